"""One small driver per adapter, all with the same interface, so one catalogue runs on all.

Each driver runs its adapter inside the real framework, the way an application does:

* ``livekit``: an ``AgentSession`` (no room) with a scripted LLM streaming tokens and a
  capturing audio sink (``tests/support/livekit.py``); barge-in is ``SpeechHandle.interrupt``.
* ``pipecat``: a real ``Pipeline`` run by Pipecat's ``WorkerRunner``
  (``tests/support/pipecat.py``), turns as ``LLMTextFrame`` streams, barge-in as an
  ``InterruptionFrame``, settings as ``TTSUpdateSettingsFrame``.
* ``langchain``: ``SmallestSpeech.atransform`` fed a token stream; barge-in is the
  consumer closing the stream after the first chunk (what a LangChain app does).
* ``langchain-tool``: ``SmallestTextToSpeechTool`` called the way an agent calls it
  (``ainvoke`` with a tool call); one request per turn over HTTP, so it has no token
  streaming, no barge-in and no word times.

A driver reports, per turn: the audio it delivered (s16le), the sample rate, the word
timings when the framework surfaces them, when the framework said the turn ended and when
its last audio came, plus any error; and overall the errors and metrics the framework saw.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from smallest_core import SmallestError
from smallest_local import Server

ADAPTERS = ("livekit", "pipecat", "langchain", "langchain-tool")
#: the adapters that stream a turn token by token over the WebSocket
STREAMING = ("livekit", "pipecat", "langchain")


@dataclass
class Turn:
    """What one turn delivered to the application."""

    audio: bytes = b""
    rate: int = 24000
    #: (word, start seconds on the turn's own timeline); None: the framework has none
    words: list[tuple[str, float]] | None = None
    #: monotonic times: last audio delivered, end of the turn signalled by the framework
    last_audio_at: float | None = None
    ended_at: float | None = None
    #: barge-in only: when the interruption was asked for, and audio of this turn after it
    interrupted_at: float | None = None
    late: bytes = b""
    error: BaseException | str | None = None
    #: when the error reached the application (same clock as ``last_audio_at``)
    error_at: float | None = None


@dataclass
class Driver:
    """The shared interface; subclasses implement it for one framework."""

    server: Server
    sample_rate: int = 24000
    word_timestamps: bool = False
    api_key: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    #: LiveKit: the session's TTS ``APIConnectOptions.timeout`` (None: LiveKit's default)
    tts_timeout: float | None = None
    #: longest wait for a turn to end before the driver gives up (a hang)
    turn_timeout: float = 20.0
    #: per-turn records the framework keeps for the session's life, dropped by forget()
    trimmed: dict[str, int] = field(default_factory=dict)

    name = "?"
    has_words = False
    can_barge_in = True
    streams_tokens = True

    @property
    def key(self) -> str:
        return self.api_key if self.api_key is not None else self.server.api_key

    async def __aenter__(self) -> Driver:
        self._stack = AsyncExitStack()
        await self._stack.__aenter__()
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.__aexit__(*exc)

    async def start(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    async def speak(self, tokens: list[str]) -> Turn:
        """Speak one turn from a token stream; return once the framework says it ended."""
        (turn,) = await self.speak_many([tokens])
        return turn

    async def speak_many(self, turns: list[list[str]]) -> list[Turn]:
        """Speak turns back to back (queued together where the framework can)."""
        raise NotImplementedError

    async def barge_in(self, tokens: list[str]) -> Turn:
        """Start a turn, interrupt it at its first audio, return what it delivered."""
        raise NotImplementedError

    async def update(self, *, speed: float) -> None:
        """Change a setting for the next turn, the framework's way."""
        raise NotImplementedError

    def errors(self) -> list[Any]:
        """Errors the framework reported outside a turn's result."""
        return []

    async def forget(self) -> None:
        """Drop what was captured so far (long runs: keep memory flat between turns).

        That is the driver's own captures and whatever the framework itself keeps per turn
        for the session's whole life (see :meth:`LiveKitDriver.forget`); each driver counts
        what it dropped of the latter in :attr:`trimmed`.
        """

    def metrics(self) -> list[Any]:
        """Per-utterance metrics the framework surfaced."""
        return []


# -- LiveKit --------------------------------------------------------------------------
class LiveKitDriver(Driver):
    name = "livekit"
    has_words = True

    async def start(self) -> None:
        from livekit.agents import Agent, AgentSession

        from livekit_smallest import TTS
        from tests.support.livekit import CaptureOutput, ScriptedLLM

        self.tts = TTS(
            api_key=self.key,
            base_url=self.server.http_url,
            sample_rate=self.sample_rate,  # type: ignore[arg-type]
            word_timestamps=self.word_timestamps,
            **self.extra,
        )
        self._stack.push_async_callback(self.tts.aclose)
        self._errors: list[Any] = []
        self._metrics: list[Any] = []
        self._error_times: list[float] = []

        def on_error(err: Any) -> None:
            self._errors.append(err)
            self._error_times.append(time.monotonic())

        self.tts.on("error", on_error)
        self.tts.on("metrics_collected", self._metrics.append)
        self.llm = ScriptedLLM()
        self.sink = CaptureOutput()
        options: dict[str, Any] = {}
        if self.tts_timeout is not None:
            from livekit.agents import APIConnectOptions
            from livekit.agents.voice.agent_session import SessionConnectOptions

            tts_options = APIConnectOptions(timeout=self.tts_timeout)
            options["conn_options"] = SessionConnectOptions(tts_conn_options=tts_options)
        self.session: AgentSession = AgentSession(
            **options,
            tts=self.tts,
            llm=self.llm,
            vad=None,
            turn_handling={
                "turn_detection": "manual",
                "interruption": {"resume_false_interruption": False},
            },
            aec_warmup_duration=None,
            use_tts_aligned_transcript=self.word_timestamps,
        )
        self.session.output.audio = self.sink
        await self.session.start(Agent(instructions="Be brief."))
        self._stack.push_async_callback(self.session.aclose)

    def _turn(self, since: int, until: int | None = None) -> Turn:
        from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT

        from tests.support.livekit import pcm_of, strip_markers

        frames = self.sink.frames[since:until]
        audio_frames = strip_markers(frames)
        words = [
            (str(w).strip(), w.start_time)
            for c in frames
            for w in c.frame.userdata.get(USERDATA_TIMED_TRANSCRIPT, [])
            if str(w).strip()
        ]
        rates = {c.frame.sample_rate for c in audio_frames}
        assert len(rates) <= 1, f"mixed sample rates in one turn: {rates}"
        return Turn(
            audio=pcm_of(frames),
            rate=rates.pop() if rates else self.sample_rate,
            words=words if self.word_timestamps else None,
            last_audio_at=audio_frames[-1].at if audio_frames else None,
        )

    async def speak_many(self, turns: list[list[str]]) -> list[Turn]:
        out = []
        for i, tokens in enumerate(turns):
            self.llm.replies.append(tokens)
            since = len(self.sink.frames)
            failed = len(self._errors)
            handle = self.session.generate_reply(user_input=f"Turn {i}.")
            await asyncio.wait_for(handle.wait_for_playout(), self.turn_timeout)
            turn = self._turn(since)
            turn.ended_at = time.monotonic()
            if len(self._errors) > failed:
                turn.error = self._errors[failed].error
                turn.error_at = self._error_times[failed]
            out.append(turn)
        return out

    async def barge_in(self, tokens: list[str]) -> Turn:
        self.llm.replies.append(tokens)
        since = len(self.sink.frames)
        self.sink.first_frame.clear()
        failed = len(self._errors)
        handle = self.session.generate_reply(user_input="Talk for a while.")
        first = asyncio.ensure_future(self.sink.first_frame.wait())
        played = asyncio.ensure_future(handle.wait_for_playout())
        await asyncio.wait(
            {first, played}, timeout=self.turn_timeout, return_when="FIRST_COMPLETED"
        )
        first.cancel()
        if not self.sink.first_frame.is_set():  # it ended (failed) before any audio
            await asyncio.wait_for(played, self.turn_timeout)
            turn = self._turn(since)
            turn.ended_at = time.monotonic()
            if len(self._errors) > failed:
                turn.error = self._errors[failed].error
                turn.error_at = self._error_times[failed]
            return turn
        played.cancel()
        asked = time.monotonic()
        handle.interrupt()
        await asyncio.wait_for(handle.wait_for_playout(), 20)
        assert handle.interrupted
        turn = self._turn(since)
        turn.interrupted_at = self.sink.cleared_at or asked
        from tests.support.livekit import pcm_of

        turn.late = pcm_of([c for c in self.sink.frames[since:] if c.at > turn.interrupted_at])
        return turn

    async def update(self, *, speed: float) -> None:
        self.tts.update_options(speed=speed)

    async def forget(self) -> None:
        self.sink.frames.clear()
        self._errors.clear()
        self._error_times.clear()
        self._metrics.clear()
        # An AgentSession keeps, until it closes, the chat history (two messages a turn,
        # in the session and in the agent: the LLM's context) and every event it emitted
        # (for the end-of-session report; each turn's SpeechHandle with its futures and
        # callbacks). Measured in bench/soak.py: about 100 objects and 25-30 KiB of RSS a
        # turn, growing linearly, all of it freed when the session closes. A long-running
        # app bounds its LLM context (public API below); the event log has no public API,
        # so it is emptied through the attribute livekit-agents 1.8.9 keeps it in.
        events = self.session._recorded_events
        history = self.session.history
        agent = self.session.current_agent
        kept = len(history.items)
        self.trimmed["events"] = self.trimmed.get("events", 0) + len(events)
        events.clear()
        history.truncate(max_items=0)
        dropped = kept - len(history.items)
        self.trimmed["chat items"] = self.trimmed.get("chat items", 0) + dropped
        await agent.update_chat_ctx(agent.chat_ctx.copy().truncate(max_items=0))

    def errors(self) -> list[Any]:
        return self._errors

    def metrics(self) -> list[Any]:
        return self._metrics


# -- Pipecat --------------------------------------------------------------------------
class PipecatDriver(Driver):
    name = "pipecat"
    has_words = True

    async def start(self) -> None:
        from pipecat_smallest import SmallestTTSService
        from tests.support.pipecat import running

        self.tts = SmallestTTSService(api_key=self.key, base_url=self.server.ws_url, **self.extra)
        self.run = await self._stack.enter_async_context(
            running(self.tts, sample_rate=self.sample_rate, metrics=True)
        )

    def _stopped(self, ctx: str) -> bool:
        from pipecat.frames.frames import TTSStoppedFrame

        return any(f.context_id == ctx for f in self.run.down.frames(TTSStoppedFrame))

    def _turn(self, ctx: str) -> Turn:
        from pipecat.frames.frames import TTSAudioRawFrame, TTSStoppedFrame, TTSTextFrame

        seen = self.run.down.seen
        audio = [s for s in seen if isinstance(s.frame, TTSAudioRawFrame)]
        audio = [s for s in audio if s.frame.context_id == ctx]
        rates = {s.frame.sample_rate for s in audio}
        assert len(rates) <= 1, f"mixed sample rates in one turn: {rates}"
        texts = [f for f in self.run.down.frames(TTSTextFrame) if f.context_id == ctx]
        words = None
        if texts and all(f.pts for f in texts):
            base = texts[0].pts
            words = [(f.text, (f.pts - base) / 1e9) for f in texts]
        stops = [
            s.at for s in seen if isinstance(s.frame, TTSStoppedFrame) and s.frame.context_id == ctx
        ]
        return Turn(
            audio=b"".join(s.frame.audio for s in audio),
            rate=rates.pop() if rates else self.sample_rate,
            words=words,
            last_audio_at=audio[-1].at if audio else None,
            ended_at=stops[0] if stops else None,
        )

    async def speak_many(self, turns: list[list[str]]) -> list[Turn]:
        from pipecat.frames.frames import (
            ErrorFrame,
            LLMFullResponseEndFrame,
            LLMFullResponseStartFrame,
            LLMTextFrame,
        )

        before = len(self.run.context_ids())
        frames = []
        for tokens in turns:
            frames += [
                LLMFullResponseStartFrame(),
                *(LLMTextFrame(t) for t in tokens),
                LLMFullResponseEndFrame(),
            ]
        failed = len(self.run.up.frames(ErrorFrame))
        await self.run.send(*frames)

        ends = self.run.down.count(LLMFullResponseEndFrame)
        spoken = sum(1 for tokens in turns if "".join(tokens).strip())

        def done(_: object) -> bool:
            # every response passed the service, and each context it opened has stopped
            # (a turn with nothing to say opens none)
            ctxs = self.run.context_ids()[before:]
            return (
                self.run.down.count(LLMFullResponseEndFrame) >= ends + len(turns)
                and len(ctxs) >= spoken
                and all(self._stopped(c) for c in ctxs)
            )

        await self.run.down.wait_for(done, self.turn_timeout)
        out = [self._turn(c) for c in self.run.context_ids()[before:]]
        if not out and len(turns) == 1:
            out = [Turn(rate=self.sample_rate, ended_at=time.perf_counter())]
        errors = [s for s in self.run.up.seen if isinstance(s.frame, ErrorFrame)][failed:]
        # ours carry the core's error; Pipecat adds its own "no audio" notices
        # (those name their context, and may arrive during the next turn: not this one's)
        ctxs = self.run.context_ids()[before:]
        ours = [e for e in errors if isinstance(e.frame.exception, SmallestError)] or [
            e for e in errors if any(c in e.frame.error for c in ctxs)
        ]
        if len(out) == 1 and ours:
            out[0].error = ours[0].frame
            out[0].error_at = ours[0].at
        return out

    async def barge_in(self, tokens: list[str]) -> Turn:
        from pipecat.frames.frames import (
            ErrorFrame,
            InterruptionFrame,
            LLMFullResponseEndFrame,
            LLMFullResponseStartFrame,
            LLMTextFrame,
            TTSAudioRawFrame,
        )

        before = len(self.run.context_ids())
        await self.run.send(
            LLMFullResponseStartFrame(),
            *(LLMTextFrame(t) for t in tokens),
            LLMFullResponseEndFrame(),
        )

        def audible(_: object) -> bool:
            ctxs = self.run.context_ids()[before:]
            return bool(ctxs) and (
                any(f.context_id == ctxs[0] for f in self.run.down.frames(TTSAudioRawFrame))
                or self._stopped(ctxs[0])  # it ended (failed) before any audio
            )

        failed = len(self.run.up.frames(ErrorFrame))
        await self.run.down.wait_for(audible, self.turn_timeout)
        ctx = self.run.context_ids()[before]
        if self._stopped(ctx) and not any(
            f.context_id == ctx for f in self.run.down.frames(TTSAudioRawFrame)
        ):
            turn = self._turn(ctx)
            errors = self.run.up.frames(ErrorFrame)[failed:]
            ours = [e for e in errors if isinstance(e.exception, SmallestError)]
            turn.error = (ours or errors or [None])[0]
            return turn
        interruptions = self.run.down.count(InterruptionFrame)
        asked = time.monotonic()
        await self.run.worker.queue_frame(InterruptionFrame())
        await self.run.down.wait_count(InterruptionFrame, interruptions + 1, 20)
        marks = [
            i for i, s in enumerate(self.run.down.seen) if isinstance(s.frame, InterruptionFrame)
        ]
        after = self.run.down.seen[marks[interruptions] :]
        turn = self._turn(ctx)
        turn.interrupted_at = asked
        turn.late = b"".join(
            s.frame.audio
            for s in after
            if isinstance(s.frame, TTSAudioRawFrame) and s.frame.context_id == ctx
        )
        return turn

    async def update(self, *, speed: float) -> None:
        from pipecat.frames.frames import TTSUpdateSettingsFrame

        from pipecat_smallest import SmallestTTSService

        await self.run.send(TTSUpdateSettingsFrame(delta=SmallestTTSService.Settings(speed=speed)))

    def errors(self) -> list[Any]:
        return self.run.errors()

    async def forget(self) -> None:
        self.run.down.seen.clear()
        self.run.up.seen.clear()

    def metrics(self) -> list[Any]:
        from pipecat.frames.frames import MetricsFrame
        from pipecat.metrics.metrics import TTSUsageMetricsData

        # one usage record per text the service spoke (Pipecat's TTFB is once per burst)
        return [
            d
            for f in self.run.down.frames(MetricsFrame)
            for d in f.data
            if isinstance(d, TTSUsageMetricsData) and d.value
        ]


# -- LangChain ------------------------------------------------------------------------
class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _tokens(tokens: list[str]) -> AsyncIterator[str]:
    for t in tokens:
        yield t


class LangChainDriver(Driver):
    name = "langchain"

    def _make(self, **changes: Any) -> Any:
        from langchain_smallest import SmallestSpeech

        kwargs: dict[str, Any] = {
            "api_key": self.key,
            "base_url": self.server.http_url,
            "sample_rate": self.sample_rate,
            **self.extra,
            **changes,
        }
        speech = SmallestSpeech(**kwargs)
        self._stack.push_async_callback(speech.aclose)
        return speech

    async def start(self) -> None:
        self.speech = self._make()
        # SmallestSpeech reports its per-utterance metrics (ttfa, audio seconds) at DEBUG
        self._log = _Records()
        logger = logging.getLogger("langchain_smallest")
        self._level = logger.level
        logger.addHandler(self._log)
        logger.setLevel(logging.DEBUG)

        def restore() -> None:
            logger.removeHandler(self._log)
            logger.setLevel(self._level)

        self._stack.callback(restore)
        self._failures: list[BaseException] = []

    async def speak_many(self, turns: list[list[str]]) -> list[Turn]:
        out = []
        for tokens in turns:
            turn = Turn(rate=self.sample_rate)
            chunks = []
            try:
                async for pcm in self.speech.atransform(_tokens(tokens)):
                    chunks.append(pcm)
                    turn.last_audio_at = time.monotonic()
            except Exception as err:  # a typed error is this turn's outcome
                turn.error = err
                turn.error_at = time.monotonic()
                self._failures.append(err)
            turn.ended_at = time.monotonic()
            turn.audio = b"".join(chunks)
            out.append(turn)
        return out

    async def barge_in(self, tokens: list[str]) -> Turn:
        stream = self.speech.atransform(_tokens(tokens))
        try:
            first = await anext(stream)
        except Exception as err:  # failed before any audio: a typed error is the outcome
            await stream.aclose()
            turn = Turn(rate=self.sample_rate, error=err, error_at=time.monotonic())
            turn.ended_at = turn.error_at
            self._failures.append(err)
            return turn
        turn = Turn(audio=first, rate=self.sample_rate, last_audio_at=time.monotonic())
        turn.interrupted_at = time.monotonic()
        await stream.aclose()  # the consumer walks away: nothing more can reach it
        return turn

    async def update(self, *, speed: float) -> None:
        # A Runnable's settings are its fields: the app builds the changed one.
        self.speech = self._make(speed=speed)

    def errors(self) -> list[Any]:
        return self._failures

    async def forget(self) -> None:
        self._failures.clear()
        self._log.records.clear()

    def metrics(self) -> list[Any]:
        return [r for r in self._log.records if r.getMessage().startswith("utterance ")]


class LangChainToolDriver(Driver):
    name = "langchain-tool"
    can_barge_in = False
    streams_tokens = False

    async def start(self) -> None:
        from langchain_smallest import SmallestTextToSpeechTool

        self.tool = SmallestTextToSpeechTool(
            api_key=self.key, base_url=self.server.http_url, **self.extra
        )
        self._stack.callback(self.tool.close)
        self._speed: float | None = None
        self._failures: list[Any] = []
        self._artifacts: list[Any] = []

    async def speak_many(self, turns: list[list[str]]) -> list[Turn]:
        out = []
        for tokens in turns:
            args: dict[str, Any] = {
                "text": "".join(tokens),
                "sample_rate": self.sample_rate,
                "output_format": "pcm",
            }
            if self._speed is not None:
                args["speed"] = self._speed
            call = {
                "name": self.tool.name,
                "args": args,
                "id": uuid.uuid4().hex,
                "type": "tool_call",
            }
            message = await self.tool.ainvoke(call)
            turn = Turn(rate=self.sample_rate, ended_at=time.monotonic())
            if message.artifact is None:
                turn.error = message.content
                self._failures.append(message.content)
            else:
                self._artifacts.append(message.artifact)
                turn.audio = message.artifact.audio
                turn.rate = message.artifact.sample_rate
                turn.last_audio_at = turn.ended_at
            out.append(turn)
        return out

    async def update(self, *, speed: float) -> None:
        self._speed = speed  # an agent passes settings as tool arguments

    def errors(self) -> list[Any]:
        return self._failures

    def metrics(self) -> list[Any]:
        # the tool's artifact states what was made: duration, rate, voice, model
        return [a for a in self._artifacts if a.duration > 0]


DRIVERS: dict[str, type[Driver]] = {
    "livekit": LiveKitDriver,
    "pipecat": PipecatDriver,
    "langchain": LangChainDriver,
    "langchain-tool": LangChainToolDriver,
}


def driver(name: str, server: Server, **kwargs: Any) -> Driver:
    """A driver for adapter ``name`` on ``server`` (use as ``async with``)."""
    return DRIVERS[name](server, **kwargs)
