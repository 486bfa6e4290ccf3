"""Speech-to-text: our adapters vs the official ones, per framework, same server, same run.

LiveKit: ``livekit_smallest.STT`` vs ``livekit.plugins.smallestai.STT``, each as a raw
``stream()``; Pipecat: ``pipecat_smallest.SmallestSTTService`` vs Pipecat's own
``SmallestSTTService``, each in a real ``Pipeline``. Every client gets the same 16 kHz
tone-twin speech in 20 ms frames paced in real time (the sides of ``bench/core.py``
section 7, reused), against one in-process ``smallest-local`` server (tone twin: exact
transcripts, no decoding):

* ten turns in one session (each: three words, the turn boundary — ``flush()`` / Pipecat's
  VAD stop —, silence until its final): new sockets the server saw beyond the first
  (``stt_reconnects10``), turns transcribed, finalize → final (``stt_finalize``) and speech
  start → first interim (``stt_interim``), client CPU ms per audio second (``stt_cpu``);
* a server drop mid-stream (a 1011 close on the next audio frame, half-way through turn
  1's speech), then turn 2: whether a typed error reached the application and how fast
  (``stt_notice_ms``; never = not surfaced), new sockets after it, turn 1's transcript
  lost or not, turn 2 transcribed or not (``stt_after_drop``: 1 if the next turn was
  transcribed), ``stt_drop_surfaced`` (1 if the application was told).

Writes ``--json`` in ``bench/report.py``'s shape: sides ``ours`` / ``theirs`` per framework.
Run: ``uv run --no-sync python bench/stt.py [--rounds N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
from typing import Any

import core  # first: it takes bench/ off sys.path while it imports LiveKit  # isort: skip
from core import (
    KEY,
    STT_FRAME,
    STT_FRAME_S,
    STT_RATE,
    STT_SILENCE,
    LiveKitSide,
    PipecatSide,
    Server,
    SttSide,
    SttTap,
)

WAIT_S = 3.0  # the longest wait for a turn's final (tone twin: tens of ms), streaming silence
TURNS = 10


def tone(*tags: str) -> bytes:
    from smallest_local.engines import ToneEngine

    engine = ToneEngine()
    return b"".join(
        engine.synthesize("w", voice_id="", sample_rate=STT_RATE, tag=t).pcm for t in tags
    )


def plain(text: str) -> list[str]:
    return [w.strip(".,").lower() for w in text.split()]


class Errors:
    """Records what the application was told: errors as ("error", t, text) events."""

    def failed(self: Any, exc: BaseException) -> None:
        self.record("error", f"{type(exc).__name__}: {exc}")


class LiveKitErrors(Errors, LiveKitSide):
    async def read(self) -> None:
        # LiveKit tells the app through the STT's "error" event too: a recoverable error
        # (the stream is reopened) never ends the stream's iteration.
        self.engine.on("error", lambda error: self.record("error", str(error.error)))
        try:
            await super().read()
        except Exception as exc:  # the stream ended with an error: the app sees it here
            self.failed(exc)

    async def push(self, pcm: bytes) -> None:
        try:
            await super().push(pcm)
        except Exception as exc:  # a dead stream refuses audio
            self.record("refused", type(exc).__name__)

    async def finalize(self) -> None:
        try:
            await super().finalize()
        except Exception as exc:  # and the turn boundary
            self.record("refused", type(exc).__name__)


class OurLiveKitSide(LiveKitErrors):
    name = "ours (LiveKit)"

    async def open(self, ws: str, http: str) -> None:
        import livekit_smallest

        self.engine = livekit_smallest.STT(  # type: ignore[assignment]  # the other STT
            api_key=KEY, base_url=ws, sample_rate=STT_RATE
        )
        self.stream = self.engine.stream()
        self.reader = asyncio.create_task(self.read())

    async def close(self) -> None:
        try:
            async with asyncio.timeout(core.STT_END_S):
                await self.stream.aclose()
        finally:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
            await self.engine.aclose()


class TheirLiveKitSide(LiveKitErrors):
    name = "LiveKit official"


class UpTap(core.FrameProcessor):
    """Before the service: the ErrorFrames it pushes upstream, as the app would see them."""

    def __init__(self, side: SttSide) -> None:
        super().__init__(enable_direct_mode=True)
        self.side = side

    async def process_frame(self, frame: core.Frame, direction: core.FrameDirection) -> None:
        from pipecat.frames.frames import ErrorFrame

        await super().process_frame(frame, direction)
        if direction == core.FrameDirection.UPSTREAM and isinstance(frame, ErrorFrame):
            self.side.record("error", frame.error)
        await self.push_frame(frame, direction)


class PipecatErrors(PipecatSide):
    def service(self, ws: str) -> Any:
        raise NotImplementedError

    async def open(self, ws: str, http: str) -> None:
        self.tap = SttTap(self)
        self.pushed = 0
        self.worker = core.PipelineWorker(
            core.Pipeline([UpTap(self), self.service(ws), self.tap]),
            params=core.PipelineParams(audio_in_sample_rate=STT_RATE),
            cancel_on_idle_timeout=False,
            enable_rtvi=False,
        )
        started = asyncio.Event()

        @self.worker.event_handler("on_pipeline_started")
        async def _started(_worker: Any, _frame: Any) -> None:
            started.set()

        runner = core.WorkerRunner(handle_sigint=False)
        await runner.add_workers(self.worker)
        self.task = asyncio.create_task(runner.run())
        async with asyncio.timeout(10):
            await started.wait()


class OurPipecatSide(PipecatErrors):
    name = "ours (Pipecat)"

    def service(self, ws: str) -> Any:
        import pipecat_smallest

        return pipecat_smallest.SmallestSTTService(api_key=KEY, base_url=ws, sample_rate=STT_RATE)


class TheirPipecatSide(PipecatErrors):
    name = "Pipecat official"

    def service(self, ws: str) -> Any:
        return core.SmallestSTTService(api_key=KEY, base_url=ws, sample_rate=STT_RATE)


PAIRS: dict[str, dict[str, type[SttSide]]] = {
    "livekit": {"ours": OurLiveKitSide, "theirs": TheirLiveKitSide},
    "pipecat": {"ours": OurPipecatSide, "theirs": TheirPipecatSide},
}


class Paced:
    """Frames to one side in real time: frame k leaves at t0 + k x 20 ms."""

    def __init__(self, side: SttSide) -> None:
        self.side = side
        self.t0 = time.perf_counter()
        self.sent = 0

    async def send(self, pcm: bytes) -> None:
        self.sent += 1
        delay = self.t0 + self.sent * STT_FRAME_S - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the stream (a benchmark clock, not a sync)
        await self.side.push(pcm)

    async def speech(self, pcm: bytes) -> None:
        for i in range(0, len(pcm), STT_FRAME):
            await self.send(pcm[i : i + STT_FRAME])

    async def silence(self, seconds: float) -> None:
        for _ in range(round(seconds / STT_FRAME_S)):
            await self.send(STT_SILENCE)

    async def until(self, done: Any, seconds: float) -> None:
        """Silence until ``done()`` holds or ``seconds`` of it (the microphone goes on)."""
        end = self.sent + round(seconds / STT_FRAME_S)
        while not done() and self.sent < end:
            await self.send(STT_SILENCE)

    @property
    def audio_s(self) -> float:
        return self.sent * STT_FRAME_S


async def ten_turns(kind: type[SttSide], server: Server) -> dict[str, list[float]]:
    side = kind()
    before = server.stats.stt_sessions
    frames0 = server.stats.frames_received
    out: dict[str, list[float]] = {"stt_finalize": [], "stt_interim": []}
    await side.open(server.ws_url, server.http_url)
    try:
        pace = Paced(side)
        cpu0 = time.thread_time()
        await pace.silence(0.3)
        heard = 0
        for i in range(TURNS):
            tags = (f"a{i}", f"b{i}", f"c{i}")
            mark = len(side.events)
            start = pace.t0 + pace.sent * STT_FRAME_S
            await side.speech_starts()
            await pace.speech(tone(*tags))
            since = time.perf_counter()
            await side.finalize()

            def final(mark: int = mark, since: float = since) -> float | None:
                return next(
                    (t for k, t, _ in side.events[mark:] if k == "final" and t > since), None
                )

            await pace.until(lambda: final() is not None, WAIT_S)
            got = final()
            texts = [x for k, _, x in side.events[mark:] if k == "final"]
            if got is not None:
                out["stt_finalize"].append((got - since) * 1000)
                heard += plain(" ".join(texts)) == [core_tone_word(t) for t in tags]
            interim = next((t for k, t, _ in side.events[mark:] if k == "interim"), None)
            if interim is not None:
                out["stt_interim"].append((interim - start) * 1000)
            await pace.silence(0.2)
        for i in range(2):  # then turns ended by the server's endpointing (600 ms window)
            mark = len(side.events)
            speech = tone(f"e{i}", f"f{i}", f"g{i}")
            await pace.speech(speech)
            ended = pace.t0 + pace.sent * STT_FRAME_S  # the last speech sample's position

            def final_after(mark: int = mark) -> float | None:
                return next((t for k, t, _ in side.events[mark:] if k == "final"), None)

            await pace.until(lambda: final_after() is not None, WAIT_S)
            got = final_after()
            if got is not None:
                out.setdefault("stt_endpoint", []).append((got - ended) * 1000)
            await pace.silence(0.2)
        out["stt_cpu"] = [(time.thread_time() - cpu0) * 1000 / pace.audio_s]
        out["stt_turns10"] = [heard]
        out["stt_reconnects10"] = [server.stats.stt_sessions - before - 1]
        # the client's framing (frames the server received per audio second; the turn
        # boundaries' text frames are a rounding error): where drop() aims its fault
        out["frames_per_s"] = [(server.stats.frames_received - frames0) / pace.audio_s]
    finally:
        await side.close()
    return out


def core_tone_word(tag: str) -> str:
    from smallest_local.engines import tone_word

    return tone_word(tag)


async def drop(
    kind: type[SttSide], server: Server, frames_per_s: float
) -> tuple[dict[str, list[float]], str]:
    """A 1011 close half-way through turn 1's speech; then turn 2.

    The server counts the audio frames it received (each client frames its own way), so
    the fault is armed before the session at the frame that carries the middle of turn
    1, from the client's framing measured by :func:`ten_turns`; "dropped" is when that
    audio was pushed (within one client frame of the close)."""
    side = kind()
    before = server.stats.stt_sessions
    one = ("one1", "one2", "one3", "one4", "one5", "one6")
    two = ("two1", "two2", "two3")
    speech = tone(*one)
    half = len(speech) // 2 // STT_FRAME * STT_FRAME
    lead_s = 0.3
    at = round(frames_per_s * (lead_s + half / 2 / STT_RATE))
    server.faults.close_after(at, code=1011, route="stt")
    await side.open(server.ws_url, server.http_url)
    try:
        pace = Paced(side)
        await pace.silence(lead_s)
        await side.speech_starts()
        await pace.speech(speech[:half])
        dropped = time.perf_counter()
        mark1 = len(side.events)
        await pace.speech(speech[half:])
        await side.finalize()
        await pace.until(lambda: any(k == "final" for k, _, _ in side.events[mark1:]), WAIT_S)
        await pace.silence(0.3)
        mark2 = len(side.events)
        await side.speech_starts()
        await pace.speech(tone(*two))
        await side.finalize()
        await pace.until(lambda: any(k == "final" for k, _, _ in side.events[mark2:]), WAIT_S)
        await pace.silence(0.2)
    finally:
        try:
            await side.close()
        except Exception as exc:  # what closing says counts as what the app is told
            side.record("error", f"closing: {type(exc).__name__}")
    errors = [(t, x) for k, t, x in side.events if k == "error"]
    finals = [x for k, _, x in side.events if k == "final"]
    words = plain(" ".join(finals))
    first = [core_tone_word(t) for t in one]
    second = [core_tone_word(t) for t in two]
    kept1 = sum(w in words for w in first)
    got2 = all(w in words for w in second)
    reconnects = server.stats.stt_sessions - before - 1
    notice = (errors[0][0] - dropped) * 1000 if errors else None
    said = (
        ("typed error never" if notice is None else f"typed error in {notice:.0f} ms")
        + (f" ({errors[0][1][:70]})" if errors else "")
        + f"; new sockets {reconnects}; turn 1: {kept1}/{len(first)} words kept"
        + f"; turn 2 {'transcribed' if got2 else 'LOST'}"
    )
    out = {
        "stt_drop_surfaced": [1.0 if errors else 0.0],
        "stt_after_drop": [1.0 if got2 else 0.0],
        "stt_drop_reconnects": [float(reconnects)],
    }
    if notice is not None:
        out["stt_notice_ms"] = [notice]
    return out, said


async def bench(rounds: int) -> tuple[dict[str, dict[str, dict[str, list[float]]]], dict]:
    server = Server(engine="tone", api_keys=(KEY,))
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        fw: {"ours": {}, "theirs": {}} for fw in PAIRS
    }
    said: dict[str, list[str]] = {}
    with server:
        for r in range(rounds):
            for fw, pair in PAIRS.items():
                order = ["ours", "theirs"] if r % 2 == 0 else ["theirs", "ours"]
                for side in order:
                    kind = pair[side]
                    got = await ten_turns(kind, server)
                    for k, v in got.items():
                        samples[fw][side].setdefault(k, []).extend(v)
                    got, text = await drop(kind, server, got["frames_per_s"][0])
                    for k, v in got.items():
                        samples[fw][side].setdefault(k, []).extend(v)
                    said.setdefault(f"{fw}/{side} ({kind.name})", []).append(text)
                    server.faults.clear()
    return samples, said


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", help="write the samples here (bench/report.py's shape)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    core.loguru_logger.remove()
    core.loguru_logger.add(sys.stderr, level="CRITICAL")
    samples, said = asyncio.run(bench(args.rounds))
    for fw, sides in samples.items():
        print(f"{fw}:")
        for side, got in sides.items():
            med = {k: round(statistics.median(v), 2) for k, v in sorted(got.items()) if v}
            print(f"  {side}: {med}")
    print("after a server drop mid-stream:")
    for who, texts in said.items():
        for text in texts:
            print(f"  {who}: {text}")
    if args.json:
        data: dict[str, Any] = {
            fw: {"sides": {s: {"samples": v} for s, v in sides.items()}}
            for fw, sides in samples.items()
        }
        data["drop"] = said
        with open(args.json, "w") as fh:
            json.dump(data, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
