"""One small speech-to-text driver per adapter, all with the same interface, so one STT
catalogue (``tests/support/stt_scenarios.py``) runs on all of them.

Each driver runs its adapter the way an application does:

* ``livekit``: ``livekit_smallest.STT.stream()`` fed ``rtc.AudioFrame``\\ s of 20 ms;
  a turn boundary is ``flush()``, the end of the audio ``end_input()``, and the events are
  read with ``async for`` until the stream ends.
* ``pipecat``: ``SmallestSTTService`` in a real ``Pipeline`` under Pipecat's
  ``WorkerRunner`` (``tests/support/pipecat.py``): ``UserAudioRawFrame``\\ s between
  Pipecat's VAD frames (a stop is the turn boundary), the end of the audio an ``EndFrame``.
* ``langchain-tool``: ``SmallestSpeechToTextTool`` called the way code calls it
  (``ainvoke`` with a tool call carrying the audio): one batch request for the whole
  recording, so it has no turn boundaries, no streaming and no WebSocket faults.

A script is a list of steps: ``bytes`` (16 kHz s16le audio, sent as 20 ms frames at once:
the tone twin needs no pacing) or :data:`FINALIZE`. :meth:`SttDriver.run` sends it, ends
the audio and returns what reached the application: the final transcripts (non-empty, in
order, with their arrival times), how many interims, and the error the framework surfaced
(as the core's error class the framework carries). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from smallest_core import SmallestError
from smallest_local import Server

STT_ADAPTERS = ("livekit", "pipecat", "langchain-tool")
#: the adapters that stream over the WebSocket (the tool is one batch request)
STT_STREAMING = ("livekit", "pipecat")
RATE = 16000
FRAME = RATE // 50 * 2  # 20 ms of s16le
FINALIZE = "finalize"
#: the longest a driver waits for its adapter to finish a script (a hang fails the test)
RUN_TIMEOUT_S = 20.0
#: the session's own deadlines where the adapter exposes them (end_timeout, open_timeout)
DEADLINE_S = 2.0

Step = bytes | str


@dataclass
class Heard:
    """What a script delivered to the application."""

    #: final transcripts with text, in order
    finals: list[str] = field(default_factory=list)
    #: perf_counter time each final reached the application
    final_at: list[float] = field(default_factory=list)
    interims: int = 0
    #: the error the framework surfaced (the first one), and the core's class of it
    error: BaseException | None = None
    error_kind: str | None = None
    error_at: float | None = None
    #: seconds from the start of the script to the end of the run
    took: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(self.finals)


def core_kind(err: BaseException | None) -> str | None:
    """The core's error class behind a framework's error (LiveKit chains it, Pipecat's
    ``ErrorFrame.exception`` is it), else the framework's own class name."""
    if err is None:
        return None
    seen = err
    while seen is not None:
        if isinstance(seen, SmallestError):
            return type(seen).__name__
        seen = seen.__cause__  # type: ignore[assignment]
    return type(err).__name__


def frames_of(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]


@dataclass
class SttDriver:
    """The shared interface; subclasses implement :meth:`run` for one framework."""

    server: Server
    extra: dict[str, Any] = field(default_factory=dict)

    name = "?"
    #: the adapter can mark a turn boundary mid-stream (finalize)
    can_finalize = True
    #: the adapter streams over the WebSocket (WebSocket faults apply)
    streams = True
    #: the adapter is one batch request (HTTP faults apply)
    batch_only = False

    async def run(self, script: list[Step]) -> Heard:  # pragma: no cover - interface
        raise NotImplementedError


# -- LiveKit --------------------------------------------------------------------------
class LiveKitSttDriver(SttDriver):
    name = "livekit"

    async def run(self, script: list[Step]) -> Heard:
        from livekit import rtc
        from livekit.agents import APIConnectOptions
        from livekit.agents import stt as lk_stt

        from livekit_smallest import STT

        heard = Heard()
        t0 = time.perf_counter()
        stt = STT(api_key=self.server.api_key, base_url=self.server.ws_url, **self.extra)
        # A session lost after its audio was accepted reaches LiveKit as a recoverable
        # error (LiveKit reopens the stream): the app hears of it through this event.
        reported: list[tuple[lk_stt.STTError, float]] = []
        stt.on("error", lambda error: reported.append((error, time.perf_counter())))
        # the session's deadlines and retries come from APIConnectOptions (one retry owner)
        options = APIConnectOptions(max_retry=2, retry_interval=0.0, timeout=DEADLINE_S)
        stream = stt.stream(conn_options=options)
        kind = lk_stt.SpeechEventType

        async def read() -> None:
            async for event in stream:
                if event.type == kind.INTERIM_TRANSCRIPT:
                    heard.interims += 1
                elif event.type == kind.FINAL_TRANSCRIPT:
                    text = event.alternatives[0].text.strip()
                    if text:
                        heard.finals.append(text)
                        heard.final_at.append(time.perf_counter())

        reader = asyncio.create_task(read())
        try:
            for step in script:
                if isinstance(step, str):
                    stream.flush()
                    continue
                for chunk in frames_of(step):
                    stream.push_frame(rtc.AudioFrame(chunk, RATE, 1, len(chunk) // 2))
            stream.end_input()
            async with asyncio.timeout(RUN_TIMEOUT_S):
                await reader
        except Exception as err:  # the framework's error is the outcome
            heard.error, heard.error_at = err, time.perf_counter()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await stream.aclose()
            await stt.aclose()
        if heard.error is None and reported:
            error, at = reported[0]
            heard.error, heard.error_at = error.error, at
        heard.error_kind = core_kind(heard.error)
        heard.took = time.perf_counter() - t0
        return heard


# -- Pipecat --------------------------------------------------------------------------
class PipecatSttDriver(SttDriver):
    name = "pipecat"

    async def run(self, script: list[Step]) -> Heard:
        from pipecat.frames.frames import (
            ErrorFrame,
            Frame,
            InterimTranscriptionFrame,
            TranscriptionFrame,
            UserAudioRawFrame,
            VADUserStartedSpeakingFrame,
            VADUserStoppedSpeakingFrame,
        )

        from pipecat_smallest import SmallestSTTService
        from tests.support.pipecat import running

        heard = Heard()
        t0 = time.perf_counter()
        stt = SmallestSTTService(
            api_key=self.server.api_key, base_url=self.server.ws_url, **self.extra
        )
        runs = []
        try:
            async with asyncio.timeout(RUN_TIMEOUT_S), running(stt) as run:
                runs.append(run)
                speaking = False
                for step in script:
                    out: list[Frame] = []
                    if isinstance(step, str):
                        out.append(
                            VADUserStoppedSpeakingFrame(stop_secs=0.2, timestamp=time.time())
                        )
                        speaking = False
                    else:
                        if not speaking:
                            out.append(VADUserStartedSpeakingFrame())
                            speaking = True
                        out += [
                            UserAudioRawFrame(
                                audio=chunk, sample_rate=RATE, num_channels=1, user_id="user"
                            )
                            for chunk in frames_of(step)
                        ]
                    await run.send(*out)
                # leaving ``running`` sends EndFrame: the service ends the session and
                # pushes its last finals before the pipeline stops
        except TimeoutError as err:
            heard.error, heard.error_at = err, time.perf_counter()
        if not runs:
            heard.error_kind = core_kind(heard.error)
            return heard
        run = runs[0]
        for seen in run.down.seen:
            if isinstance(seen.frame, InterimTranscriptionFrame):
                heard.interims += 1
            elif isinstance(seen.frame, TranscriptionFrame) and seen.frame.text.strip():
                heard.finals.append(seen.frame.text.strip())
                heard.final_at.append(seen.at)
        errors = [(s.frame, s.at) for s in run.up.seen if isinstance(s.frame, ErrorFrame)]
        if errors and heard.error is None:
            frame, at = errors[0]
            heard.error = frame.exception or RuntimeError(frame.error)
            heard.error_at = at
        heard.error_kind = core_kind(heard.error)
        heard.took = time.perf_counter() - t0
        return heard


# -- LangChain ------------------------------------------------------------------------
class LangChainToolSttDriver(SttDriver):
    name = "langchain-tool"
    can_finalize = False
    streams = False
    batch_only = True

    async def run(self, script: list[Step]) -> Heard:
        from pydantic import SecretStr

        from langchain_smallest import SmallestSpeechToTextTool

        heard = Heard()
        t0 = time.perf_counter()
        tool = SmallestSpeechToTextTool(
            api_key=SecretStr(self.server.api_key), base_url=self.server.http_url, sample_rate=RATE
        )
        pcm = b"".join(s for s in script if isinstance(s, bytes))
        call = {
            "type": "tool_call",
            "id": uuid.uuid4().hex,
            "name": tool.name,
            "args": {"audio": pcm},
        }
        try:
            async with asyncio.timeout(RUN_TIMEOUT_S):
                message = await tool.ainvoke(call)
        except Exception as err:  # a raised error is the outcome
            heard.error, heard.error_at = err, time.perf_counter()
        else:
            if message.status != "success" or message.artifact is None:
                heard.error, heard.error_at = RuntimeError(message.content), time.perf_counter()
            elif message.artifact.text.strip():
                heard.finals.append(message.artifact.text.strip())
                heard.final_at.append(time.perf_counter())
        finally:
            tool.close()
        heard.error_kind = core_kind(heard.error)
        heard.took = time.perf_counter() - t0
        return heard


STT_DRIVERS: dict[str, type[SttDriver]] = {
    "livekit": LiveKitSttDriver,
    "pipecat": PipecatSttDriver,
    "langchain-tool": LangChainToolSttDriver,
}


def stt_driver(name: str, server: Server, **extra: Any) -> SttDriver:
    """A driver for adapter ``name`` on ``server``."""
    return STT_DRIVERS[name](server, extra)
