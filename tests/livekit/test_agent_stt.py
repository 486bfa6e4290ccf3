"""``livekit_smallest.STT`` as an ``AgentSession``'s ``stt=`` (no room): the user's audio
comes from an ``AudioInput``, LiveKit's ``"stt"`` turn detection ends the turn on our
STT's end-of-speech event and final transcript, the transcript reaches the session's
events and chat history, and the scripted LLM's answer is spoken by our TTS.

The tone engine makes the transcript exact (each 200 ms tone word is heard as
``tag<value>``). The audio is handed over as fast as LiveKit reads it: the server's
endpointing counts samples, not wall time, so no real-time pacing is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livekit import rtc
from livekit.agents import (
    Agent,
    AgentSession,
    ConversationItemAddedEvent,
    UserInputTranscribedEvent,
    llm,
)
from livekit.agents.voice.io import AudioInput

from livekit_smallest import STT, TTS
from smallest_local import Server
from smallest_local.engines import ToneEngine, tone_word
from tests.support.livekit import CaptureOutput, ScriptedLLM

RATE = 16000
WAIT_S = 20.0


def tone(*tags: str) -> bytes:
    return b"".join(
        ToneEngine().synthesize("w", voice_id="", sample_rate=RATE, tag=tag).pcm for tag in tags
    )


class Microphone(AudioInput):
    """Plays ``pcm`` as 20 ms frames, then waits (no more audio) until closed."""

    def __init__(self, pcm: bytes) -> None:
        super().__init__(label="test microphone")
        step = RATE // 50 * 2
        self._frames = [pcm[i : i + step] for i in range(0, len(pcm), step)]
        self.closed = asyncio.Event()

    async def __anext__(self) -> rtc.AudioFrame:
        if not self._frames:
            await self.closed.wait()
            raise StopAsyncIteration
        chunk = self._frames.pop(0)
        return rtc.AudioFrame(chunk, RATE, 1, len(chunk) // 2)


def plain(text: str) -> list[str]:
    return [w.strip(".,").lower() for w in text.split()]


async def test_the_users_speech_is_transcribed_into_the_session_and_answered(
    smallest_server: Server, make_tts: Callable[..., TTS]
) -> None:
    stt = STT(api_key=smallest_server.api_key, base_url=smallest_server.ws_url)
    tts = make_tts()
    # the question, then 1 s of silence: the server's VAD ends the speech (600 ms) and
    # its endpoint sends the final
    mic = Microphone(tone("when", "do", "you", "open") + bytes(RATE * 2))
    sink = CaptureOutput()
    session: AgentSession = AgentSession(
        stt=stt,
        tts=tts,
        llm=ScriptedLLM(["We ", "open ", "at ", "nine."]),
        turn_handling={
            "turn_detection": "stt",
            "endpointing": {"min_delay": 0.0},
            "preemptive_generation": {"enabled": False},
        },
        aec_warmup_duration=None,
    )
    session.input.audio = mic
    session.output.audio = sink
    finals: list[UserInputTranscribedEvent] = []
    items: list[llm.ChatMessage] = []
    answered = asyncio.Event()

    @session.on("user_input_transcribed")
    def _transcribed(ev: UserInputTranscribedEvent) -> None:
        if ev.is_final:
            finals.append(ev)

    @session.on("conversation_item_added")
    def _added(ev: ConversationItemAddedEvent) -> None:
        if isinstance(ev.item, llm.ChatMessage):
            items.append(ev.item)
            if ev.item.role == "assistant":
                answered.set()

    expected = [tone_word("when"), tone_word("do"), tone_word("you"), tone_word("open")]
    await session.start(Agent(instructions="Answer briefly."))
    try:
        async with asyncio.timeout(WAIT_S):
            await answered.wait()
    finally:
        mic.closed.set()
        await session.aclose()
        await stt.aclose()

    assert [plain(f.transcript) for f in finals] == [expected]
    assert finals[0].language == "en"
    [user, assistant] = items
    assert user.role == "user" and plain(user.text_content or "") == expected
    assert assistant.text_content == "We open at nine."
    history = [
        (m.role, m.text_content) for m in session.history.items if isinstance(m, llm.ChatMessage)
    ]
    assert history == [("user", user.text_content), ("assistant", "We open at nine.")]
    assert sink.frames, "the answer was spoken"
    assert smallest_server.stats.stt_sessions == 1
