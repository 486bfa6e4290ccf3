"""Demo scene: a Pipecat voice loop — the pipeline hears, answers and speaks.

``Pipeline([VADProcessor(Silero), SmallestSTTService, scripted LLM, SmallestTTSService,
speaker])`` under Pipecat's ``PipelineWorker``: the user's audio goes in as
``InputAudioRawFrame``\\ s at real-time pace (spoken questions from the server's own TTS,
silence in between), as a transport would deliver it. Pipecat's Silero VAD (its model
ships inside pipecat-ai, so it runs offline) frames the user's turn; at its stop our STT
finalizes, the scripted LLM answers the final transcript token by token, our TTS speaks.
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
from demo_pipecat import llm_turn
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    EndFrame,
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from pipecat_smallest import SmallestSTTService, SmallestTTSService

SCENE = "pipecat voice loop"
QUESTIONS = ["How much does a ticket cost?", "I would like to book a table for two people."]
ANSWERS = [
    "Tickets are twelve dollars.",
    "Of course. A table for two is booked for seven o'clock.",
]


class ScriptedLLM(FrameProcessor):
    """Stands in for the user aggregator and the LLM service: gathers the final
    transcripts of a user turn (Silero's start to stop) and, at the final after the stop
    (our STT's finalize), answers with the next scripted reply as an LLM's token stream.
    When the server's own endpointing sent the last final before the stop, the turn is
    answered ``LATE_S`` after the stop, as Pipecat's aggregator waits for late finals."""

    LATE_S = 1.0

    def __init__(self, *replies: str) -> None:
        super().__init__()
        self.replies = list(replies)
        self.heard: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        self._parts: list[str] = []
        self._stopped = False
        self._late: asyncio.TimerHandle | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._parts, self._stopped = [], False
            self._cancel_late()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._stopped = True
            if self._parts:
                loop = asyncio.get_running_loop()
                self._late = loop.call_later(
                    self.LATE_S, lambda: self.create_task(self._answer(), "late answer")
                )
        elif isinstance(frame, TranscriptionFrame) and frame.text.strip():
            self._parts.append(frame.text.strip())
            if self._stopped:
                await self._answer()

    def _cancel_late(self) -> None:
        if self._late is not None:
            self._late.cancel()
            self._late = None

    async def _answer(self) -> None:
        self._cancel_late()
        if not self._parts or not self.replies:
            return
        heard, self._parts = " ".join(self._parts), []
        self.heard.put_nowait((heard, time.perf_counter()))
        for token in llm_turn(self.replies.pop(0)):
            await self.push_frame(token)


class Speaker(FrameProcessor):
    """Stands in for ``transport.output()``: keeps the agent's audio, notes each reply's
    first audio and its end."""

    def __init__(self) -> None:
        super().__init__()
        self.pcm = bytearray()
        self.first_audio_at: list[float] = []
        self.stopped = 0
        self._speaking = False
        self.changed = asyncio.Condition()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.pcm += frame.audio
            if not self._speaking:
                self._speaking = True
                self.first_audio_at.append(time.perf_counter())
        elif isinstance(frame, TTSStoppedFrame):
            self._speaking = False
            self.stopped += 1
            async with self.changed:
                self.changed.notify_all()
        await self.push_frame(frame, direction)

    async def replies_done(self, n: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.stopped >= n)


class Microphone:
    """The user's side of the transport: queued speech, else silence, one 20 ms
    ``InputAudioRawFrame`` per 20 ms into the pipeline."""

    def __init__(self, worker: PipelineWorker) -> None:
        self._worker = worker
        self._step = int(MIC_RATE * MIC_FRAME_S) * 2
        self._speech = bytearray()
        self._ended: asyncio.Future[float] | None = None

    def say(self, pcm: bytes) -> asyncio.Future[float]:
        """Play ``pcm`` from the next frame on; the future is the time its last frame went in."""
        self._speech += pcm
        self._ended = asyncio.get_running_loop().create_future()
        return self._ended

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            chunk = bytes(self._speech[: self._step])
            del self._speech[: self._step]
            frame = InputAudioRawFrame(chunk.ljust(self._step, b"\0"), MIC_RATE, 1)
            await self._worker.queue_frame(frame)
            if chunk and not self._speech and self._ended is not None and not self._ended.done():
                self._ended.set_result(time.perf_counter())
            deadline += MIC_FRAME_S
            await asyncio.sleep(max(0.0, deadline - loop.time()))  # real-time pace


async def scene(base_url: str | None, api_key: str | None, out: Path) -> VoiceLoopResult:
    """Run the loop (one turn per question); write ``out/pipecat_voice.wav``."""
    speech = await speak_questions(base_url, api_key, QUESTIONS)
    vad = VADProcessor(vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=0.3)))
    stt = SmallestSTTService(api_key=api_key, base_url=base_url)
    model = ScriptedLLM(*ANSWERS)
    # the embedded server's recognizer shares this process (a final's full decode takes a
    # second or two of CPU here): more slack than Pipecat's default 3 s before a quiet TTS
    # stream counts as lost
    tts = SmallestTTSService(api_key=api_key, base_url=base_url, stop_frame_timeout_s=10.0)
    speaker = Speaker()
    worker = PipelineWorker(
        Pipeline([vad, stt, model, tts, speaker]),
        params=PipelineParams(audio_in_sample_rate=MIC_RATE, audio_out_sample_rate=RATE),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    mic = Microphone(worker)
    feeding = asyncio.create_task(mic.run())
    turns: list[Turn] = []
    try:
        progress(SCENE, "pipeline running: Silero VAD → STT → scripted LLM → TTS")
        for n, (question, pcm) in enumerate(zip(QUESTIONS, speech, strict=True), 1):
            turn = Turn(question, answer=ANSWERS[n - 1])
            progress(SCENE, f"turn {n}: the user speaks ({len(pcm) / 2 / MIC_RATE:.1f} s)")
            async with asyncio.timeout(30):
                turn.speech_end = await mic.say(pcm)
                turn.heard, turn.final_at = await model.heard.get()
                await speaker.replies_done(n)
            turn.first_audio_at = speaker.first_audio_at[n - 1]
            turn.report(SCENE, n)
            turns.append(turn)
        feeding.cancel()
        await worker.queue_frame(EndFrame())
        async with asyncio.timeout(30):
            await running
    finally:
        feeding.cancel()
        if not running.done():
            await worker.cancel()
        await asyncio.gather(running, feeding, return_exceptions=True)
    seconds = write_wav(out / "pipecat_voice.wav", bytes(speaker.pcm))
    progress(SCENE, f"wrote {out / 'pipecat_voice.wav'} ({seconds:.1f} s)")
    return VoiceLoopResult(SCENE, str(out / "pipecat_voice.wav"), seconds, turns)
