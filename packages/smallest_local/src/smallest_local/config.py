"""Server configuration: keys, engine, latency model, limits, storage.

Everything a test or the CLI can set lives here as plain dataclasses; the running
server reads the *live* ``LatencyModel`` on every request, so a test may change it
between requests through ``Server.latency``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_API_KEY",
    "DIALECTS",
    "STT_DIALECTS",
    "Dialect",
    "LatencyModel",
    "ServerConfig",
    "SttDialect",
]

#: The key the server accepts when none is configured (documented in the README).
DEFAULT_API_KEY = "sk_local_dev_key"


@dataclass(slots=True)
class LatencyModel:
    """How slow the server pretends to be.

    Attributes:
        connect_ms: delay before a WebSocket upgrade is accepted (handshake latency).
        first_chunk_ms: delay from a request being ready to synthesize to its first chunk.
        chunk_ms: milliseconds of audio per chunk frame / SSE event / HTTP body piece.
        realtime_factor: time to produce a chunk relative to its audio length; 0 sends
            chunks as fast as possible, 1.0 paces them at real time, 0.5 twice as fast.
        odd_pieces: HTTP only: cut SSE audio events and sync body pieces at odd byte
            counts, so a sample is split across pieces (nothing in the protocol aligns
            them to samples; clients must carry the odd byte).
    """

    connect_ms: float = 0.0
    first_chunk_ms: float = 0.0
    chunk_ms: int = 100
    realtime_factor: float = 0.0
    odd_pieces: bool = False


@dataclass(frozen=True, slots=True)
class Dialect:
    """How the continuations protocol (``context_id``, docs/protocol.md §12) answers.

    The sources disagree on what one context produces (§12), so the server emulates each
    reading; tests pick one with ``ServerConfig.dialect``. Flush mode (no ``context_id``)
    is the same under every dialect.

    Attributes:
        release_ids: each *release* of a context (one sentence, released at a sentence
            boundary, at ``max_buffer_delay_ms`` or at the closing fragment) is its own
            server request: a fresh server ``request_id`` (UUID), word ``id`` from 0 and
            word ``start``/``end`` from 0.0. Source: pipecat-ai 1.14
            ``pipecat/services/smallest/tts.py`` (offsets timestamps whenever the frame
            ``request_id`` changes: "timestamps restart per request"). False: the whole
            context is one request with one id and one timeline (the server's original
            behaviour).
        complete_per_release: each release ends with its own ``complete``, sent right
            after its last frame, and nothing marks the last one; the closing fragment
            itself produces no frame. Source: livekit/agents PR #7111 (continuations in
            livekit-plugins-smallestai 1.8.9, "verified live"): "Continuations can emit
            multiple ``complete`` frames per context with no terminal marker". False: one
            ``complete`` per context, ``complete_backoff_ms`` after its last audio, once
            the closing fragment has arrived (Pipecat 1.14: "Smallest emits a single
            ``complete`` for the whole turn"). Requires ``release_ids``.
        echo_context_id: response frames carry the client's ``context_id``. Neither
            official client reads it, so neither shows whether the service sends it
            (§12); ``external_request_id`` is echoed either way (§5.3).
    """

    release_ids: bool = False
    complete_per_release: bool = False
    echo_context_id: bool = True

    def __post_init__(self) -> None:
        if self.complete_per_release and not self.release_ids:
            raise ValueError("Dialect: complete_per_release requires release_ids")


#: The named dialects (``ServerConfig.dialect``, ``--dialect``, the pytest marker).
#: ``-bare``: ``context_id`` is never echoed.
DIALECTS: dict[str, Dialect] = {
    "context": Dialect(),
    "context-bare": Dialect(echo_context_id=False),
    "release-ids": Dialect(release_ids=True),
    "release-ids-bare": Dialect(release_ids=True, echo_context_id=False),
    "release": Dialect(release_ids=True, complete_per_release=True),
    "release-bare": Dialect(release_ids=True, complete_per_release=True, echo_context_id=False),
}


@dataclass(frozen=True, slots=True)
class SttDialect:
    """How the Pulse STT WebSocket answers where the sources disagree (STT.md §6).

    The default (``pulse``) is the digest's "Implement" reading; each other named
    dialect changes one thing a client must survive. Tests pick one with
    ``ServerConfig.stt_dialect`` (or per connection with the
    ``smallest_local_dialect`` query parameter, which the real service would ignore).

    Attributes:
        finalize: ``{"type":"finalize"}`` is answered with a final (D1). False: the first
            ``/stt/live`` spec, which knew only ``close_stream``; ``finalize`` is then an
            unknown frame and ignored.
        from_finalize: when the finalize answer carries ``from_finalize: true`` (D5):
            ``"always"`` (spec), ``"itn"`` (only with ``itn_normalize=true``, the API
            page), ``"never"`` (the live probe without ITN).
        keepalive: the answer to ``{"type":"keepalive"}`` (D2): ``"pong"`` (LiveKit's
            public gateway), ``"error"`` (LiveKit's direct inference server rejects it
            with ``{"error": ...}``) or ``"ignore"`` (nothing; docs and SDK are silent).
        text_fields: which text keys transcript events carry (D3): ``"both"``
            (``transcript`` and ``transcription``, identical), ``"transcription"`` (the
            spec examples) or ``"transcript"`` (the legacy spec).
        string_speakers: with ``diarize``, ``speaker`` is ``"speaker_0"`` (the
            ``/stt/live`` spec, SDK) instead of ``0`` (D7).
        error_shape: in-session error frames (§2, D4): ``"a"``
            ``{"type":"error","status":"error","message","error_code"}``, ``"c"``
            ``{"status":"error","error":{"message","code"}}``, ``"d"`` ``{"error": ...}``.
        server_closes: after the ``is_last`` event the server closes (1000) at once (the
            spec); False: it waits up to 5 s for the client to close (docs' examples, D22).
    """

    finalize: bool = True
    from_finalize: str = "always"
    keepalive: str = "pong"
    text_fields: str = "both"
    string_speakers: bool = False
    error_shape: str = "a"
    server_closes: bool = True

    def __post_init__(self) -> None:
        checks = (
            ("from_finalize", self.from_finalize, ("always", "itn", "never")),
            ("keepalive", self.keepalive, ("pong", "error", "ignore")),
            ("text_fields", self.text_fields, ("both", "transcription", "transcript")),
            ("error_shape", self.error_shape, ("a", "c", "d")),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(
                    f"SttDialect: invalid {name!r}: {value!r}; allowed: {', '.join(allowed)}"
                )


#: The named STT dialects (``ServerConfig.stt_dialect``, ``--stt-dialect``, the marker,
#: or ``?smallest_local_dialect=`` per connection).
STT_DIALECTS: dict[str, SttDialect] = {
    "pulse": SttDialect(),
    "pulse-itn": SttDialect(from_finalize="itn"),
    "no-from-finalize": SttDialect(from_finalize="never"),
    "close-stream-only": SttDialect(finalize=False),
    "direct": SttDialect(keepalive="error", error_shape="d"),
    "silent-keepalive": SttDialect(keepalive="ignore"),
    "transcription-only": SttDialect(text_fields="transcription"),
    "transcript-only": SttDialect(text_fields="transcript"),
    "string-speakers": SttDialect(string_speakers=True),
    "error-nested": SttDialect(error_shape="c"),
    "client-closes": SttDialect(server_closes=False),
}


def _keys_from_env() -> tuple[str, ...]:
    raw = os.environ.get("SMALLEST_LOCAL_API_KEYS", "")
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    return keys or (DEFAULT_API_KEY,)


@dataclass(slots=True)
class ServerConfig:
    """Static settings of one server instance.

    Attributes:
        host, port: where to listen; port 0 picks a free one.
        api_keys: Bearer keys accepted (``SMALLEST_LOCAL_API_KEYS``, comma-separated).
        forbidden_keys: keys that authenticate but are not allowed (answered 403).
        engine: ``"espeak"`` (real speech) or ``"tone"`` (deterministic, attributable).
        latency: the initial latency model.
        concurrency_limit: syntheses one key may run at once across all sockets
            (docs/protocol.md §9.10); beyond it HTTP gets 429 and WS an error frame.
        idle_timeout_s: default WS idle timeout when the URL has no ``?timeout=``.
        max_text_chars: the most text one request may have spoken: one HTTP body's
            ``text``, all ``continue`` fragments of one WS request or context together,
            and what remains after pronunciation dictionaries; over it → 400 / an error
            frame naming ``text``.
        max_frame_bytes: largest WS message accepted (bigger ones close the socket with
            1009) and largest TTS HTTP/SSE body (bigger ones get a 400).
        max_open_requests: WS requests one socket may have open at once (continuation
            contexts, plus flush-mode requests buffered or queued); beyond it the new
            one gets a ``TOO_MANY_REQUESTS`` error frame.
        write_timeout_s: longest a single send may wait for the client to read. A WS
            client that stops reading has its synthesis stopped, its concurrency unit
            freed and its socket closed (1008, or aborted if even that cannot be sent);
            an HTTP/SSE one has its connection aborted.
        db_path: SQLite file for clone jobs and dictionaries (``":memory:"`` for tests).
        clone_pending_s, clone_processing_s: how long a clone job stays in each state.
        legacy_routes: serve the retired legacy routes' old shapes instead of 410.
        dialect: how continuations answer, one of :data:`DIALECTS` (see :class:`Dialect`):
            ``"context"`` (default: one server request and one ``complete`` per context),
            ``"release-ids"`` (Pipecat 1.14's reading: a fresh server ``request_id`` and
            timestamps from 0 per sentence release, one ``complete`` per context),
            ``"release"`` (LiveKit PR #7111's reading: as ``release-ids`` plus one
            ``complete`` per release, no terminal marker); a ``-bare`` suffix
            (``context-bare``, ``release-ids-bare``, ``release-bare``) never echoes
            ``context_id``.
        release_gap_ms: under the ``release*`` dialects, the least time between one
            release's last frame (its ``complete`` in ``release``) and the next
            release's first chunk (on top of ``first_chunk_ms``); 0 for none.
        stt_engine: the speech-to-text engine, ``"pocketsphinx"`` (real recognition) or
            ``"tone"`` (reads tone audio's tags, exact); ``None`` follows ``engine``
            (``espeak`` → ``pocketsphinx``, ``tone`` → ``tone``).
        stt_dialect: how the Pulse STT WebSocket answers, one of :data:`STT_DIALECTS`
            (see :class:`SttDialect`).
        stt_strict: refuse what the real service may refuse but our default tolerates:
            a missing ``language`` on ``/stt/live`` and ``eou_timeout_ms`` outside
            100-10000 are 400 instead of defaulted / clamped (STT.md D10, D12).
        stt_max_session_s: most seconds of audio one STT session may send; beyond it the
            pending final is sent, then an error frame and close 1008 (endless streams).
        stt_max_realtime_factor, stt_burst_s: audio rate limit. After the first frame a
            session may send ``stt_burst_s`` seconds of audio plus
            ``stt_max_realtime_factor`` × wall-clock seconds; more is an error frame
            (``RATE_LIMITED``) and close 1008. Sending faster than real time is allowed
            (the docs advise it, STT.md D13) up to that bound.
        stt_max_batch_bytes: largest batch body (413 on ``/stt/``, 400 on the legacy path).
        control: serve the benchmark control routes under ``/_local/`` (script faults
            and read the close log from another process; see :mod:`smallest_local.control`).
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_keys: tuple[str, ...] = field(default_factory=_keys_from_env)
    forbidden_keys: tuple[str, ...] = ()
    engine: str = "espeak"
    latency: LatencyModel = field(default_factory=LatencyModel)
    concurrency_limit: int = 100
    idle_timeout_s: float = 60.0
    max_text_chars: int = 5000
    max_frame_bytes: int = 256 * 1024
    max_open_requests: int = 128
    write_timeout_s: float = 10.0
    db_path: str = ":memory:"
    clone_pending_s: float = 0.2
    clone_processing_s: float = 0.5
    legacy_routes: bool = False
    dialect: str = "context"
    release_gap_ms: float = 100.0
    stt_engine: str | None = None
    stt_dialect: str = "pulse"
    stt_strict: bool = False
    stt_max_session_s: float = 4 * 3600.0
    stt_max_realtime_factor: float = 50.0
    stt_burst_s: float = 120.0
    stt_max_batch_bytes: int = 250 * 1024 * 1024
    control: bool = False

    def __post_init__(self) -> None:
        if self.stt_dialect not in STT_DIALECTS:
            raise ValueError(
                f"Invalid 'stt_dialect': {self.stt_dialect!r}. "
                f"Allowed values: {', '.join(STT_DIALECTS)}."
            )
        if self.stt_engine not in (None, "pocketsphinx", "tone"):
            raise ValueError(
                f"Invalid 'stt_engine': {self.stt_engine!r}. Allowed values: pocketsphinx, tone."
            )
        if self.dialect not in DIALECTS:
            raise ValueError(
                f"Invalid 'dialect': {self.dialect!r}. Allowed values: {', '.join(DIALECTS)}."
            )
        if not self.write_timeout_s > 0:
            raise ValueError(f"Invalid 'write_timeout_s': {self.write_timeout_s!r}. Must be > 0.")
        if self.max_open_requests < 1:
            raise ValueError(
                f"Invalid 'max_open_requests': {self.max_open_requests!r}. Must be >= 1."
            )
        if not self.release_gap_ms >= 0:
            raise ValueError(f"Invalid 'release_gap_ms': {self.release_gap_ms!r}. Must be >= 0.")

    @property
    def stt_engine_name(self) -> str:
        """The STT engine in effect (``stt_engine``, or the one ``engine`` implies)."""
        if self.stt_engine is not None:
            return self.stt_engine
        return "tone" if self.engine == "tone" else "pocketsphinx"

    @property
    def dialect_spec(self) -> Dialect:
        """The :class:`Dialect` that ``dialect`` names."""
        return DIALECTS[self.dialect]

    def __repr__(self) -> str:  # never print keys
        return (
            f"ServerConfig(host={self.host!r}, port={self.port}, engine={self.engine!r}, "
            f"api_keys=[{len(self.api_keys)} hidden], db_path={self.db_path!r}, "
            f"dialect={self.dialect!r}, stt_dialect={self.stt_dialect!r})"
        )
