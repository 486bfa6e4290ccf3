"""Demo scene: livekit_smallest inside a real LiveKit ``AgentSession`` (no room needed).

A scripted LLM streams its reply token by token; the session's TTS node sends it to
Smallest through ``livekit_smallest.TTS``; a capturing audio sink stands in for the room.
The user barges in mid-reply (``SpeechHandle.interrupt()``, what LiveKit does when the VAD
hears the user), then the agent answers again — on the socket it already had open.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from demo_common import RATE, SceneResult, SocketCounter, progress, write_wav
from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, Agent, AgentSession, APIConnectOptions, llm
from livekit.agents.voice.io import AudioOutput, AudioOutputCapabilities

from livekit_smallest import TTS
from smallest_core import ConnectionPool, TTSOptions

SCENE = "livekit barge-in"
LONG_REPLY = (
    "Let me tell you everything about our opening hours. On Monday we open at nine, "
    "on Tuesday at ten, on Wednesday at nine again, and on Thursday we stay open late."
)
ANSWER = "Sorry, go ahead. Your appointment is on Monday at three o'clock."
BARGE_IN_AFTER_S = 1.0  # the user talks over the agent after this much audio


def tokens(text: str) -> list[str]:
    """LLM-style tokens: words with their leading space."""
    words = text.split(" ")
    return [words[0], *(" " + w for w in words[1:])]


class ScriptedLLM(llm.LLM):
    """Stands in for an LLM: streams the next scripted reply, one chunk per token."""

    def __init__(self, *replies: str) -> None:
        super().__init__()
        self.replies = list(replies)
        self.first_token_at: list[float] = []

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Any] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **_: Any,
    ) -> llm.LLMStream:
        text = self.replies.pop(0)
        return _Tokens(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options, text=text
        )


class _Tokens(llm.LLMStream):
    def __init__(self, owner: ScriptedLLM, *, text: str, **kwargs: Any) -> None:
        super().__init__(owner, **kwargs)
        self._owner = owner
        self._text = text

    async def _run(self) -> None:
        self._owner.first_token_at.append(time.perf_counter())
        for token in tokens(self._text):
            delta = llm.ChoiceDelta(role="assistant", content=token)
            self._event_ch.send_nowait(llm.ChatChunk(id="demo", delta=delta))


class CaptureOutput(AudioOutput):
    """The room's speaker, in memory: records frames, reports playback to the session."""

    def __init__(self) -> None:
        super().__init__(label="capture", capabilities=AudioOutputCapabilities(pause=False))
        self.pcm = bytearray()
        self.first_audio_at: list[float] = []
        self.reached = asyncio.Event()  # BARGE_IN_AFTER_S of this reply captured
        self._reply_s = 0.0
        self._playing = False
        self._finish: asyncio.TimerHandle | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        self.pcm += frame.data.tobytes()
        if not self._playing:
            self._playing = True
            self.first_audio_at.append(time.perf_counter())
            self.on_playback_started(created_at=time.time())
        self._reply_s += frame.duration
        if self._reply_s >= BARGE_IN_AFTER_S:
            self.reached.set()

    def flush(self) -> None:
        super().flush()
        if self._playing:  # report playout on the next loop turns, as a speaker would
            self._finish = asyncio.get_running_loop().call_later(0.05, self._done, False)

    def clear_buffer(self) -> None:
        if self._finish is not None:
            self._finish.cancel()
        if self._playing:
            self._done(True)

    def _done(self, interrupted: bool) -> None:
        self._finish = None
        position, self._reply_s, self._playing = self._reply_s, 0.0, False
        self.reached.clear()
        self.on_playback_finished(playback_position=position, interrupted=interrupted)


async def scene(base_url: str | None, api_key: str | None, out: Path) -> SceneResult:
    """Run the scene; write ``out/livekit.wav``."""
    pool = ConnectionPool(api_key=api_key, base_url=base_url, options=TTSOptions(sample_rate=RATE))
    sockets = SocketCounter(pool)
    tts = TTS(api_key=api_key, base_url=base_url, sample_rate=RATE, pool=pool)
    model = ScriptedLLM(LONG_REPLY, ANSWER)
    sink = CaptureOutput()
    session: AgentSession = AgentSession(
        tts=tts,
        llm=model,
        turn_handling={
            "turn_detection": "manual",
            "interruption": {"resume_false_interruption": False},
        },
        aec_warmup_duration=None,
    )
    session.output.audio = sink
    try:
        await session.start(Agent(instructions="Be brief."))
        progress(SCENE, "AgentSession started (no room; audio captured in memory)")
        reply = session.generate_reply(user_input="When are you open?")
        await sink.reached.wait()
        progress(SCENE, f"agent speaking; user barges in after {BARGE_IN_AFTER_S:.0f} s of audio")
        reply.interrupt()
        await reply
        opened_before = sockets.opened
        progress(SCENE, "interrupted; agent answers again")
        await session.generate_reply(user_input="Wait, when is my appointment?")
        reused = sockets.opened == opened_before
    finally:
        await session.aclose()
        await tts.aclose()
        await pool.aclose()
    seconds = write_wav(out / "livekit.wav", bytes(sink.pcm))
    ttfa = (sink.first_audio_at[0] - model.first_token_at[0]) * 1000
    progress(SCENE, f"wrote {out / 'livekit.wav'} ({seconds:.1f} s)")
    return SceneResult(
        SCENE, str(out / "livekit.wav"), ttfa, seconds, sockets.opened, reused, ANSWER
    )
