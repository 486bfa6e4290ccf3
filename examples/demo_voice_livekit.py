"""Demo scene: a LiveKit voice loop — the ``AgentSession`` hears, answers and speaks.

``AgentSession(stt=livekit_smallest.STT, llm=scripted, tts=livekit_smallest.TTS)`` with
no room: the user's microphone is an ``AudioInput`` that plays spoken questions (espeak
speech from the server's own TTS) at real-time pace, silence in between; a capturing
sink stands in for the speaker. Turn detection is ``"stt"``: the end of the user's turn
is our STT's end-of-speech event (the server's VAD) and its final transcript — LiveKit's
Silero VAD and turn-detector models are downloads, so they are not used offline.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from demo_common import (
    MIC_FRAME_S,
    MIC_RATE,
    RATE,
    Turn,
    VoiceLoopResult,
    progress,
    speak_questions,
    write_wav,
)
from demo_livekit import CaptureOutput, ScriptedLLM
from livekit import rtc
from livekit.agents import Agent, AgentSession, UserInputTranscribedEvent
from livekit.agents.voice.io import AudioInput

from livekit_smallest import STT, TTS

SCENE = "livekit voice loop"
QUESTIONS = ["Please call me back tomorrow morning.", "When do you open tomorrow?"]
ANSWERS = ["Sure, I will call you at nine.", "We open at nine o'clock."]


class Microphone(AudioInput):
    """The user's microphone: queued speech, else silence, one 20 ms frame per 20 ms."""

    def __init__(self) -> None:
        super().__init__(label="spoken questions")
        self._step = int(MIC_RATE * MIC_FRAME_S) * 2
        self._speech = bytearray()
        self._next: float | None = None
        self._ended: asyncio.Future[float] | None = None

    def say(self, pcm: bytes) -> asyncio.Future[float]:
        """Play ``pcm`` from the next frame on; the future is the time its last frame went in."""
        self._speech += pcm
        self._ended = asyncio.get_running_loop().create_future()
        return self._ended

    async def __anext__(self) -> rtc.AudioFrame:
        loop = asyncio.get_running_loop()
        self._next = loop.time() if self._next is None else self._next + MIC_FRAME_S
        await asyncio.sleep(max(0.0, self._next - loop.time()))  # real-time pace
        chunk = bytes(self._speech[: self._step])
        del self._speech[: self._step]
        if chunk and not self._speech and self._ended is not None and not self._ended.done():
            self._ended.set_result(time.perf_counter())
        chunk = chunk.ljust(self._step, b"\0")
        return rtc.AudioFrame(chunk, MIC_RATE, 1, self._step // 2)


class Speaker(CaptureOutput):
    """The room's speaker, in memory; ``replies`` wakes waiters at each reply's first frame."""

    def __init__(self) -> None:
        super().__init__()
        self.replies = asyncio.Condition()

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        started = len(self.first_audio_at)
        await super().capture_frame(frame)
        if len(self.first_audio_at) > started:
            async with self.replies:
                self.replies.notify_all()

    async def reply_started(self, n: int) -> None:
        """Wait for the first frame of the n-th reply."""
        async with self.replies:
            await self.replies.wait_for(lambda: len(self.first_audio_at) >= n)


async def scene(base_url: str | None, api_key: str | None, out: Path) -> VoiceLoopResult:
    """Run the loop (one turn per question); write ``out/livekit_voice.wav``."""
    speech = await speak_questions(base_url, api_key, QUESTIONS)
    stt = STT(api_key=api_key, base_url=base_url, language="en")
    tts = TTS(api_key=api_key, base_url=base_url, sample_rate=RATE)
    model = ScriptedLLM(*ANSWERS)
    mic, sink = Microphone(), Speaker()
    session: AgentSession = AgentSession(
        stt=stt,
        tts=tts,
        llm=model,
        turn_handling={
            "turn_detection": "stt",  # our STT's end of speech + final end the turn
            "endpointing": {"min_delay": 0.1},
            "interruption": {"enabled": False},
            "preemptive_generation": {"enabled": False},
        },
        aec_warmup_duration=None,
    )
    session.input.audio = mic
    session.output.audio = sink
    finals: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

    @session.on("user_input_transcribed")
    def _transcribed(ev: UserInputTranscribedEvent) -> None:
        if ev.is_final and ev.transcript.strip():
            finals.put_nowait((ev.transcript, time.perf_counter()))

    turns: list[Turn] = []
    try:
        await session.start(Agent(instructions="Answer briefly."))
        progress(SCENE, "AgentSession started: stt=STT, tts=TTS, turn detection by our STT")
        for n, (question, pcm) in enumerate(zip(QUESTIONS, speech, strict=True), 1):
            turn = Turn(question)
            replies_before = len(sink.first_audio_at)
            progress(SCENE, f"turn {n}: the user speaks ({len(pcm) / 2 / MIC_RATE:.1f} s)")
            async with asyncio.timeout(30):
                turn.speech_end = await mic.say(pcm)
                turn.heard, turn.final_at = await finals.get()
                await sink.reply_started(replies_before + 1)
                turn.first_audio_at = sink.first_audio_at[-1]
                if session.current_speech is not None:  # the answer plays out
                    await session.current_speech.wait_for_playout()
            turn.answer = ANSWERS[n - 1]
            turn.report(SCENE, n)
            turns.append(turn)
    finally:
        await session.aclose()
        await stt.aclose()
        await tts.aclose()
    seconds = write_wav(out / "livekit_voice.wav", bytes(sink.pcm))
    progress(SCENE, f"wrote {out / 'livekit_voice.wav'} ({seconds:.1f} s)")
    return VoiceLoopResult(SCENE, str(out / "livekit_voice.wav"), seconds, turns)
