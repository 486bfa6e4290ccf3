"""Smallest AI text-to-speech for LiveKit Agents: ``tts.TTS`` mapped onto ``smallest_core``.

What lives here: the mapping from LiveKit's TTS contract to the core's public names, and
nothing below it. ``stream()`` runs one core :class:`Utterance` per LiveKit segment on a
shared :class:`ConnectionPool` (warm sockets, multiplexed, cancelled in place on
barge-in); ``synthesize()`` goes through :class:`AsyncRestClient` and decodes every
output format to PCM with the core's helpers. Frames, sockets, JSON, retries and the end
of an utterance are the core's business: an utterance ends when its iteration ends.

Why not ``livekit.agents.utils.ConnectionPool``: it discards a socket whenever a stream is
cancelled (every barge-in costs a reconnect on the next turn's critical path) and never
refreshes idle sockets; the core's pool cancels the utterance on the same socket and
replaces sockets before the server's idle timeout.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from dataclasses import dataclass, field

from livekit.agents import APIConnectOptions, APIError, tts, utils
from livekit.agents.telemetry import trace_types
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given
from livekit.agents.voice.io import TimedString
from opentelemetry import trace

from smallest_core import (
    MAX_CHUNK_CHARS,
    AsyncRestClient,
    AudioChunk,
    ConnectionPool,
    InvalidState,
    Language,
    Model,
    OutputFormat,
    RetryPolicy,
    SampleRate,
    SentenceSegmenter,
    SmallestError,
    TranscriptAligner,
    TTSOptions,
    Utterance,
    WordTimestamp,
    decode_to_pcm,
    default_voice,
    pcm_duration,
)

from ._errors import to_api_error
from .log import logger

__all__ = ["TTS", "ChunkedStream", "SynthesizeStream"]

NUM_CHANNELS = 1
#: Streaming audio is PCM s16le on the WebSocket whatever ``output_format`` says.
_PCM_MIME = "audio/pcm"
#: The core has no MP3 decoder; LiveKit's emitter decodes MP3 itself (PyAV).
_MP3_MIME = "audio/mpeg"
#: A segment the server answered with no audio at all (text with nothing speakable:
#: punctuation, markup) gets this much silence, so LiveKit does not report it as a failed
#: synthesis ("no audio frames were pushed") and count it toward closing the session.
_EMPTY_SEGMENT_SILENCE_S = 0.01


def _explain(message: str) -> None:
    """Say at INFO, once when the TTS is built, why an official-plugin argument that
    was given changes nothing here."""
    logger.info("%s", message)


def retry_policy(conn_options: APIConnectOptions) -> RetryPolicy:
    """The core retry policy that stands for LiveKit's ``APIConnectOptions``.

    One retry owner: the core retries (only before the first audio, honouring
    ``Retry-After``) and LiveKit never does, since every error it sees is non-retryable.
    ``max_retry`` keeps its meaning; the first retry waits 0.1 s as LiveKit's would, later
    ones back off up to ``retry_interval``; the deadline is LiveKit's own worst case.
    """
    retries = conn_options.max_retry
    interval = conn_options.retry_interval
    return RetryPolicy(
        max_attempts=retries + 1,
        base_delay=min(0.1, interval),
        max_delay=interval,
        deadline=conn_options.timeout * (retries + 1) + interval * retries,
    )


class TTS(tts.TTS):
    """Smallest AI Lightning TTS over ``smallest_core``.

    Every argument of the official ``livekit.plugins.smallestai.TTS`` is taken, with
    the same meaning, so switching is one import line; the two that have no meaning
    here (``use_continuations=False``, ``http_session``) are accepted and explained once
    in the log, at INFO.

    Args:
        api_key: Bearer key; default ``$SMALLEST_API_KEY``. Never logged.
        model: ``lightning_v3.1_pro`` or ``lightning_v3.1``.
        voice_id: a voice of that model (see the voices API); default ``meher`` for
            the Pro model, ``sophia`` for ``lightning_v3.1`` (as the official plugin).
        sample_rate: 8000, 16000, 24000 or 44100 Hz.
        speed: 0.5 to 2.0.
        language: a language code or ``auto``.
        output_format: body format for ``synthesize()`` (``pcm``, ``wav``, ``mp3``,
            ``ulaw``, ``alaw``); always decoded to PCM frames. Streaming is always PCM.
        word_timestamps: stream word timings as an aligned transcript
            (``AgentSession(use_tts_aligned_transcript=True)``).
        max_buffer_flush_ms: the server's flush-mode buffer bound (0-1000 ms); applies
            only to flush-mode streaming, as in the official plugin; None: server default.
        use_continuations: the official plugin's protocol switch; the core picks how
            to stream, so only the default (True) has a meaning here.
        max_buffer_delay_ms: continuations: longest hold of text waiting for a sentence
            boundary (0-5000 ms); None: the server's default (3000).
        base_url: the service (default) or a local server; http(s) or ws(s), one URL for
            both transports, with or without the API path; ``$SMALLEST_BASE_URL``
            overrides the default.
        ws_url: the streaming URL, when it differs from ``base_url`` (any spelling
            ``base_url`` takes, or the full streaming URL).
        http_session: the official plugin's aiohttp session; not used (the core owns
            its connections).
        pool: a :class:`ConnectionPool` to share between TTS instances (same key and
            URL); it is not closed by :meth:`aclose`, and its own ``retry`` policy
            applies. Default: a pool of our own, retrying as ``conn_options`` say.

    Raises:
        InvalidOptionError: a bad option, naming the field and the allowed values.
        AuthenticationError: no key given and ``SMALLEST_API_KEY`` unset.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: Model = "lightning_v3.1_pro",
        voice_id: str | None = None,
        sample_rate: SampleRate = 24000,
        speed: float = 1.0,
        language: Language = "en",
        output_format: OutputFormat = "pcm",
        word_timestamps: bool = False,
        max_buffer_flush_ms: int | None = None,
        use_continuations: bool = True,
        max_buffer_delay_ms: int | None = None,
        base_url: str | None = None,
        ws_url: str | None = None,
        http_session: object | None = None,
        pool: ConnectionPool | None = None,
    ) -> None:
        opts = TTSOptions(
            model=model,
            voice_id=default_voice(model) if voice_id is None else voice_id,
            language=language,
            speed=speed,
            sample_rate=sample_rate,
            word_timestamps=word_timestamps,
            output_format=output_format,
            max_buffer_flush_ms=max_buffer_flush_ms,
            max_buffer_delay_ms=max_buffer_delay_ms,
        )
        if not use_continuations:
            _explain(
                "use_continuations=False is accepted and not needed: the core chooses how "
                "to stream (continuations, many utterances per socket) and every segment "
                "is still flushed as its sentences complete",
            )
        if http_session is not None:
            _explain(
                "http_session is accepted and not used: the core's REST client and "
                "connection pool own their connections (close this TTS with aclose())",
            )
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=True, aligned_transcript=word_timestamps),
            sample_rate=opts.sample_rate,
            num_channels=NUM_CHANNELS,
        )
        # The core resolves the key ($SMALLEST_API_KEY) and the URL ($SMALLEST_BASE_URL,
        # http(s) or ws(s) for both transports) and rejects bad ones here, at construction.
        self._opts = opts
        self._given_pool = pool

        def new_clients() -> _Clients:  # a closure: the key is in no attribute's repr
            policy = retry_policy(DEFAULT_API_CONNECT_OPTIONS)
            rest = AsyncRestClient(api_key=api_key, base_url=base_url, options=opts, retry=policy)
            sockets = pool or ConnectionPool(
                api_key=api_key, base_url=ws_url or base_url, options=opts, retry=policy
            )
            return _Clients(sockets, rest, owns_pool=pool is None)

        self._make_clients = new_clients
        # Sockets and HTTP connections belong to the event loop that opened them: each
        # loop that uses this TTS (a script's asyncio.run() calls, notebook cells, a
        # test runner's loop per test) gets a pool and client of its own. The first
        # pair is made now, so a bad key or URL fails here, and taken by the first loop.
        self._unbound: _Clients | None = self._make_clients()
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Clients] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False
        self._streams: weakref.WeakSet[SynthesizeStream] = weakref.WeakSet()
        self._prewarm_task: asyncio.Task[None] | None = None

    @property
    def model(self) -> str:
        """The model, for LiveKit's metrics and traces."""
        return self._opts.model

    @property
    def provider(self) -> str:
        """The provider label, for LiveKit's metrics and traces."""
        return "SmallestAI"

    @property
    def options(self) -> TTSOptions:
        """The options the next segment will use."""
        return self._opts

    def update_options(
        self,
        *,
        model: NotGivenOr[Model] = NOT_GIVEN,
        voice_id: NotGivenOr[str] = NOT_GIVEN,
        language: NotGivenOr[Language] = NOT_GIVEN,
        speed: NotGivenOr[float] = NOT_GIVEN,
        sample_rate: NotGivenOr[SampleRate] = NOT_GIVEN,
        word_timestamps: NotGivenOr[bool] = NOT_GIVEN,
        output_format: NotGivenOr[OutputFormat] = NOT_GIVEN,
    ) -> None:
        """Change options from the next ``stream()`` or ``synthesize()`` on.

        A stream already open keeps the options it was opened with: LiveKit's emitter
        has one sample rate per stream, and every frame must carry the rate its audio
        was made at. No socket is reopened: every utterance carries its options.

        Raises:
            InvalidOptionError: a bad value, naming the field (nothing is changed then).
        """
        given = {
            "model": model,
            "voice_id": voice_id,
            "language": language,
            "speed": speed,
            "sample_rate": sample_rate,
            "word_timestamps": word_timestamps,
            "output_format": output_format,
        }
        self._opts = self._opts.replace(**{k: v for k, v in given.items() if is_given(v)})
        self._sample_rate = self._opts.sample_rate
        self._capabilities.aligned_transcript = self._opts.word_timestamps

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> ChunkedStream:
        """Synthesize ``text`` in one HTTP request (any ``output_format``, PCM frames out)."""
        return ChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> SynthesizeStream:
        """A streaming synthesis: push LLM tokens in, audio comes out as sentences complete."""
        stream = SynthesizeStream(tts=self, conn_options=conn_options)
        self._streams.add(stream)
        return stream

    def prewarm(self) -> None:
        """Open a pooled socket in the background so the first reply skips the handshake."""
        if self._prewarm_task is not None and not self._prewarm_task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the first stream opens the socket
        self._prewarm_task = loop.create_task(self._prewarm(), name="smallest-prewarm")

    def _clients(self) -> _Clients:
        """The running loop's pool and REST client (made on its first use).

        Raises:
            APIError: the TTS is closed, or a pool given to it is asked for from another
                event loop than the one it first ran on (it cannot serve two).
        """
        if self._closed:
            raise to_api_error(InvalidState("the TTS is closed"))
        loop = asyncio.get_running_loop()
        clients = self._by_loop.get(loop)
        if clients is None:
            if self._unbound is not None:
                clients, self._unbound = self._unbound, None
            elif self._given_pool is not None:
                raise to_api_error(
                    InvalidState(
                        "the ConnectionPool given to this TTS runs on another event loop; "
                        "give each event loop a TTS with its own pool (or none)"
                    )
                )
            else:
                clients = self._make_clients()
            clients.bind()
            self._by_loop[loop] = clients
        return clients

    async def _prewarm(self) -> None:
        try:
            await self._clients().pool.prewarm()
        except (SmallestError, APIError) as err:
            # The next stream reports the same failure as a typed error; this is advance notice.
            logger.warning("prewarm failed: %s", err)

    async def aclose(self) -> None:
        """Close live streams, then the pools (if ours) and HTTP clients; afterwards
        ``stream()`` and ``synthesize()`` raise ``APIError`` ("the TTS is closed").

        Pools of other event loops that have ended went with their loop."""
        if self._prewarm_task is not None:
            await utils.aio.cancel_and_wait(self._prewarm_task)
        await asyncio.gather(*(s.aclose() for s in list(self._streams)))
        self._closed = True
        loop = asyncio.get_running_loop()
        # Only this loop's can be closed from here; an ended loop's sockets are gone.
        mine = [c for lp, c in self._by_loop.items() if lp is loop]
        if self._unbound is not None:
            mine.append(self._unbound)
        self._unbound = None
        self._by_loop.clear()
        for clients in mine:
            await clients.aclose()


@dataclass(eq=False)
class _Clients:
    """The connection pool and REST client of one event loop.

    Bound to a loop on first use, with a task that closes them when the loop shuts down:
    ``asyncio.run`` cancels the tasks still pending at the end, so a script that never
    calls ``aclose()`` still closes its sockets cleanly, as a loop ends.
    """

    pool: ConnectionPool
    rest: AsyncRestClient
    owns_pool: bool
    keeper: asyncio.Task[None] | None = None

    def bind(self) -> None:
        self.keeper = asyncio.get_running_loop().create_task(self._hold(), name="smallest-clients")

    async def _hold(self) -> None:
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            await self.close()

    async def close(self) -> None:
        if self.owns_pool:
            await self.pool.aclose()
        await self.rest.aclose()

    async def aclose(self) -> None:
        if self.keeper is None:
            await self.close()
        else:
            await utils.aio.cancel_and_wait(self.keeper)


class ChunkedStream(tts.ChunkedStream):
    """One HTTP synthesis; the body is decoded to PCM (G.711 and WAV by the core's helpers)."""

    def __init__(self, *, tts: TTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._tts: TTS = tts
        self._opts = tts._opts  # frozen: later update_options() builds a new one

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        opts = self._opts
        request_id = utils.shortuuid()
        body = b""
        if self._input_text.strip():
            try:
                body = await self._tts._clients().rest.synthesize(
                    self._input_text,
                    options=opts,
                    request_id=request_id,
                    retry=retry_policy(self._conn_options),
                    timeout=self._conn_options.timeout,  # each attempt's budget
                )
            except SmallestError as err:
                raise to_api_error(err) from err
        mp3 = opts.output_format == "mp3" and bool(body)
        output_emitter.initialize(
            request_id=request_id,
            sample_rate=opts.sample_rate,
            num_channels=NUM_CHANNELS,
            mime_type=_MP3_MIME if mp3 else _PCM_MIME,
        )
        if mp3:
            output_emitter.push(body)
        elif body:
            output_emitter.push(decode_to_pcm(body, opts.output_format, opts.sample_rate))
        elif self._input_text.strip():
            logger.debug("no audio for request %s: nothing speakable", request_id)
            output_emitter.push(_silence(opts.sample_rate))
        # No flush(): LiveKit's end_input() releases the tail as the final frame, where a
        # flush would add a 10 ms silent end marker and change the duration.


@dataclass(eq=False)
class _Segment:
    """One LiveKit segment: its utterance, the text sent and how much audio it made."""

    utterance: Utterance
    offset: float  # seconds of audio this stream emitted before the segment
    #: the text sent, verbatim, cut into word-aligned transcript pieces by the core
    transcript: TranscriptAligner = field(default_factory=TranscriptAligner)
    audio_seconds: float = 0.0  # PCM pushed for this segment
    #: the server's request ids seen, in order (a retry or a release adds one)
    server_ids: dict[str, None] = field(default_factory=dict)

    def timed_word(self, word: WordTimestamp) -> TimedString:
        """The word as a TimedString carrying the sent text since the previous word, so
        the pieces concatenate to exactly what was sent (spaces and punctuation kept)."""
        return TimedString(
            self.transcript.word(word.word),
            start_time=self.offset + word.start,
            end_time=self.offset + word.end,
        )


class SynthesizeStream(tts.SynthesizeStream):
    """Streaming synthesis: one core utterance per LiveKit segment, on the shared pool.

    Text is cut into sentences by the core's :class:`SentenceSegmenter` and each sentence
    goes out as soon as it is complete, so a multi-sentence reply starts speaking before
    the LLM has finished. On barge-in LiveKit cancels the task: the utterance is cancelled
    on its socket (the server is told, nothing of it is read afterwards, the socket stays
    in the pool) and ``CancelledError`` propagates unchanged.
    """

    def __init__(self, *, tts: TTS, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, conn_options=conn_options)
        self._tts: TTS = tts
        self._opts = tts._opts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=self._opts.sample_rate,
            num_channels=NUM_CHANNELS,
            mime_type=_PCM_MIME,
            stream=True,
        )
        # Everything below is per attempt: LiveKit replays the input into a fresh _run.
        segments: asyncio.Queue[_Segment | None] = asyncio.Queue()
        opened: list[_Segment] = []
        emitted = [0.0]  # seconds of audio pushed by this attempt, across segments
        # Receiving runs in this task, sending beside it; either failing ends the attempt
        # at once, as a gather() of the two would. Receiving here means an error the
        # utterance raises (the server closed, the socket dropped) reaches LiveKit in the
        # loop step after the socket reported it: no task to finish first, no gather()
        # callback, no wait for tasks already done.
        this = asyncio.current_task()
        assert this is not None
        sender = asyncio.create_task(self._send(segments, opened, emitted), name="smallest-send")
        interrupt = _Interrupt(this)
        sender.add_done_callback(interrupt)
        try:
            try:
                await self._receive(segments, output_emitter, emitted)
                await sender  # done already: it queued the end of input as its last act
            except asyncio.CancelledError:
                failure = _failure(sender)
                # Ours alone (no barge-in beside it): the sender's error ends the attempt.
                if interrupt.fired and failure is not None and this.cancelling() == 1:
                    this.uncancel()
                    raise failure from failure.__cause__
                raise
        finally:
            interrupt.armed = False  # from here on a sender failure interrupts nothing
            for segment in opened:
                segment.utterance.cancel()  # no-op once it ended; barge-in otherwise
            if not sender.done():
                await utils.aio.cancel_and_wait(sender)
            _failure(sender)  # retrieved: raised above, or superseded by the receiving error

    async def _open(self) -> Utterance:
        """Start an utterance on a pooled socket and record acquire time and reuse."""
        pool = self._tts._clients().pool
        known = pool.connections
        started = time.perf_counter()
        try:
            utt = await pool.utterance(
                utils.shortuuid(),
                options=self._opts,
                finish_timeout=self._conn_options.timeout,
                retry=retry_policy(self._conn_options),  # this stream's own conn_options
                # LiveKit's budget for reaching the API: each attempt to get a socket
                # (waiting for room, TCP, TLS, the upgrade)
                connect_timeout=self._conn_options.timeout,
            )
        except SmallestError as err:
            raise to_api_error(err) from err
        self._acquire_time = time.perf_counter() - started
        self._connection_reused = utt.connection in known
        return utt

    async def _send(
        self,
        segments: asyncio.Queue[_Segment | None],
        opened: list[_Segment],
        emitted: list[float],
    ) -> None:
        """Feed LiveKit's input into utterances: sentences as they complete, end at flush."""
        segment: _Segment | None = None
        splitter = SentenceSegmenter(MAX_CHUNK_CHARS)
        pending = ""  # leading whitespace, held until there is something to say

        async def send(chunk: str, *, last: bool = False) -> None:
            nonlocal segment, pending
            if segment is None:
                if not chunk.strip():
                    pending += chunk
                    return
                utt = await self._open()
                segment = _Segment(utt, offset=emitted[0])
                opened.append(segment)
                segments.put_nowait(segment)
                chunk, pending = pending + chunk, ""
            if segment.utterance.open_for_text:  # else it failed: _receive raises why
                segment.transcript.sent(chunk)
                if last:
                    await segment.utterance.end(chunk)
                else:
                    await segment.utterance.push_text(chunk)
                self._mark_started()

        async def end() -> None:
            nonlocal segment, pending
            *chunks, tail = [*splitter.flush()] or [""]
            for chunk in chunks:
                await send(chunk)
            if tail.strip() or segment is not None:
                # the tail rides on the closing frame: the server has the whole
                # segment in one read and starts at once (no second wake-up)
                await send(tail, last=True)
            segment, pending = None, ""

        async for item in self._input_ch:
            if isinstance(item, str):
                for chunk in splitter.push(item):
                    await send(chunk)
            else:
                await end()
        await end()
        segments.put_nowait(None)

    async def _receive(
        self,
        segments: asyncio.Queue[_Segment | None],
        output_emitter: tts.AudioEmitter,
        emitted: list[float],
    ) -> None:
        """Emit each segment's audio and word timings until its utterance ends."""
        rate = self._opts.sample_rate
        aligned = self._opts.word_timestamps

        def emit(segment: _Segment, event: AudioChunk | WordTimestamp) -> None:
            if isinstance(event, AudioChunk):
                output_emitter.push(event.audio)
                segment.audio_seconds += pcm_duration(event.audio, rate)
            elif aligned:
                output_emitter.push_timed_transcript(segment.timed_word(event))
            if sid := event.server_request_id:
                segment.server_ids[sid] = None  # put on the trace by _receive, below

        provider_ids: list[str] = []  # lk.provider_request_ids, as LiveKit orders them
        while (segment := await segments.get()) is not None:
            utt = segment.utterance
            output_emitter.start_segment(segment_id=utt.request_id)
            provider_ids.append(utt.request_id)
            try:
                # push() is a synchronous channel put: the core calls emit() from the
                # socket's reader as each chunk arrives, with no wake-up of this task.
                await utt.stream_to(functools.partial(emit, segment))
            except SmallestError as err:
                raise to_api_error(err) from err
            finally:
                # Here, in the stream's task: emit() runs in the socket's reader, under
                # the context of whoever opened the socket, not this stream's span.
                # Ties the trace to Smallest's logs (OpenTelemetry's own API).
                provider_ids.extend(s for s in segment.server_ids if s not in provider_ids)
                _note_provider_ids(provider_ids)
            if not segment.audio_seconds and segment.transcript.text.strip():
                logger.debug("no audio for segment %s: nothing speakable", utt.request_id)
                output_emitter.push(_silence(rate))
                segment.audio_seconds = pcm_duration(_silence(rate), rate)
            if aligned and (tail := segment.transcript.rest()):
                output_emitter.push_timed_transcript(TimedString(tail))
            output_emitter.end_segment()
            emitted[0] += segment.audio_seconds
            logger.debug("segment done", extra={"smallest": utt.metrics.as_dict()})


def _failure(task: asyncio.Task[None]) -> BaseException | None:
    """The exception ``task`` ended with (marked retrieved), or None (running, done
    cleanly or cancelled)."""
    if not task.done() or task.cancelled():
        return None
    return task.exception()


class _Interrupt:
    """A stream's sender's done callback: when sending failed (no socket, a refused
    request) while the stream's task still waits for a segment or for audio, cancel that
    wait; the task then raises the sender's error (as a gather() of the two would).

    ``armed`` is cleared once the task stops waiting, so a failure reported later can
    never cancel whatever the task does next (LiveKit's own error handling).
    """

    def __init__(self, receiver: asyncio.Task[object]) -> None:
        self.receiver = receiver
        self.armed = True
        self.fired = False

    def __call__(self, sender: asyncio.Task[None]) -> None:
        if self.armed and _failure(sender) is not None:
            self.armed = False
            self.fired = True
            self.receiver.cancel()


def _silence(sample_rate: int) -> bytes:
    return b"\0\0" * round(sample_rate * _EMPTY_SEGMENT_SILENCE_S)


def _note_provider_ids(ids: list[str]) -> None:
    """Put the ids the provider knows this stream by on its ``tts_request_run`` span
    (``lk.provider_request_ids``: our segment ids, which ``start_segment`` notes, and the
    server's request ids, which only we see), through OpenTelemetry's public API. LiveKit
    versions whose tracing has no such attribute get nothing."""
    attribute = getattr(trace_types, "ATTR_PROVIDER_REQUEST_IDS", None)
    span = trace.get_current_span()
    if attribute is not None and span.is_recording():
        span.set_attribute(attribute, list(ids))
