"""REST on httpx: synthesis (sync and SSE), batch transcription, voices, voice cloning and
pronunciation dictionaries.

Two clients with one behaviour: :class:`AsyncRestClient` and :class:`RestClient`. Both
build their requests with the same :class:`_Api` methods and read responses with the
same parsers, so only the ``await`` differs (the httpx pattern). Pass your own
``httpx.AsyncClient``/``httpx.Client`` (e.g. with ``transport=``) to change how bytes
move; pass ``base_url`` to talk to a local server.

Retries: 408/429/5xx and dropped connections are retried with the :class:`RetryPolicy`
(``Retry-After`` honoured) — a streamed response only until its first chunk was
yielded. 400/401/403/404/422 are never retried.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from . import audio
from .classify import error_from_status
from .codec import (
    CLONE_PATH,
    DICTS_PATH,
    SSE_PATH,
    TTS_PATH,
    SSEDecoder,
    authorization,
    http_base,
    resolve_base_url,
    sync_body,
    voices_path,
)
from .errors import (
    AuthenticationError,
    ConnectionLostError,
    InvalidOptionError,
    InvalidRequestError,
    InvalidState,
    SmallestError,
)
from .errors import RequestTimeoutError as SmallestTimeout
from .events import AudioChunk, Complete, ErrorEvent
from .options import TTSOptions, catalog_model, check_text
from .redact import mask_key, redact, register_secret
from .retry import Attempts, RetryPolicy
from .stt_codec import check_batch_size, has_container, parse_transcription, stt_query
from .stt_events import Transcription
from .stt_options import STTOptions
from .stt_wire import MAX_BATCH_BYTES, OCTET_STREAM, STT_BATCH_PATH
from .wire import API_KEY_ENV, USER_AGENT, Header, MediaType

__all__ = [
    "AsyncRestClient",
    "AudioInput",
    "ClonedVoice",
    "PronunciationDictionary",
    "RestClient",
    "Voice",
]

#: What ``transcribe`` takes: WAV (or other container) or raw PCM bytes, a path, or a
#: binary file object (read to its end).
AudioInput = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]

#: §7: accepted upload types for voice cloning, by file suffix.
CLONE_CONTENT_TYPES = {
    ".wav": "audio/wav",
    ".wave": "audio/wave",
    ".mp3": "audio/mpeg",
    ".webm": "audio/webm",
    ".mp4": "audio/mp4",
    ".m4a": "audio/mp4",
}
FINAL_CLONE_STATES = ("completed", "failed")


# -- what the API returns -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Voice:
    """A catalog voice (``get_voices``, docs/protocol.md §7)."""

    voice_id: str
    display_name: str
    languages: tuple[str, ...] = ()
    accent: str | None = None
    gender: str | None = None
    tags: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Voice:
        tags = data.get("tags") or {}
        langs = tags.get("language") or []
        return cls(
            voice_id=str(data.get("voiceId", "")),
            display_name=str(data.get("displayName", "")),
            languages=tuple(langs) if isinstance(langs, list) else (str(langs),),
            accent=tags.get("accent"),
            gender=tags.get("gender"),
            tags=tags,
        )


@dataclass(frozen=True, slots=True)
class ClonedVoice:
    """A voice clone job and, once ``completed``, a voice id usable for synthesis (§7)."""

    voice_id: str
    display_name: str
    status: str
    model: str | None = None
    language: str | None = None
    created_at: str | None = None
    error: str | None = None

    @property
    def ready(self) -> bool:
        """True when the clone can be used (``status == "completed"``)."""
        return self.status == "completed"

    @property
    def final(self) -> bool:
        """True when the job will not change any more (completed or failed)."""
        return self.status in FINAL_CLONE_STATES

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClonedVoice:
        model = data.get("model")
        if isinstance(model, Mapping):  # §9.15: string in the spec, object in the guide
            model = model.get("modelName")
        if model is None and data.get("modelIds"):
            model = data["modelIds"][0]
        return cls(
            voice_id=str(data.get("voiceId", "")),
            display_name=str(data.get("displayName", "")),
            status=str(data.get("status", "pending")),
            model=model,
            language=data.get("language") or None,
            created_at=data.get("createdAt"),
            error=data.get("error"),
        )


@dataclass(frozen=True, slots=True)
class PronunciationDictionary:
    """A pronunciation dictionary; pass its ``id`` in ``TTSOptions.pronunciation_dicts``."""

    id: str
    items: tuple[tuple[str, str], ...]
    created_at: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PronunciationDictionary:
        items = tuple(
            (str(i.get("word", "")), str(i.get("pronunciation", "")))
            for i in data.get("items") or []
        )
        return cls(id=str(data.get("id", "")), items=items, created_at=data.get("createdAt"))


# -- requests and responses, shared by both clients -------------------------------------------
@dataclass(slots=True)
class _Call:
    method: str
    path: str
    json: Any = None
    files: Any = None
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    params: list[tuple[str, str]] | None = None
    body: bytes | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.json is not None:
            self.headers.setdefault(Header.CONTENT_TYPE, MediaType.JSON)

    def content(self) -> bytes | None:
        """The JSON body, ASCII-escaped: user text with a lone surrogate (which UTF-8
        cannot encode) goes out as a ``\\ud800`` escape the server can judge, the way
        WebSocket frames do, instead of failing in the HTTP library."""
        if self.body is not None:
            return self.body
        return None if self.json is None else json.dumps(self.json).encode("ascii")

    def extra(self) -> dict[str, Any]:
        """``build_request`` arguments beyond the body: query and a per-call timeout."""
        extra: dict[str, Any] = {}
        if self.params is not None:
            extra["params"] = self.params
        if self.timeout is not None:
            extra["timeout"] = self.timeout
        return extra


class _Api:
    """Builds requests and reads responses; no I/O."""

    def __init__(
        self, api_key: str | None, base_url: str | None, options: TTSOptions | None
    ) -> None:
        key = api_key or os.environ.get(API_KEY_ENV)
        if not key:
            raise AuthenticationError(f"no API key: pass api_key= or set {API_KEY_ENV}")
        self._secret = register_secret(key)  # redacted while this client lives
        self.api_key = key
        self.base_url = http_base(resolve_base_url(base_url))
        self.options = options or TTSOptions()

    def headers(self) -> dict[str, str]:
        return {Header.AUTHORIZATION: authorization(self.api_key), Header.X_SOURCE: USER_AGENT}

    def tts(
        self,
        text: str,
        options: TTSOptions | None,
        request_id: str | None,
        timeout: float | None = None,
    ) -> _Call:
        opts = options or self.options
        return _Call(
            "POST",
            TTS_PATH,
            json=sync_body(opts, check_text(text), request_id=request_id),
            headers={"Accept": "audio/wav"},
            timeout=timeout,
        )

    def sse(
        self,
        text: str,
        options: TTSOptions | None,
        request_id: str | None,
        timeout: float | None = None,
    ) -> _Call:
        opts = options or self.options
        return _Call(
            "POST",
            SSE_PATH,
            json=sync_body(opts, check_text(text), request_id=request_id),
            headers={"Accept": "text/event-stream"},
            timeout=timeout,
        )

    def voices(self, model: str) -> _Call:
        return _Call("GET", voices_path(catalog_model(model)))

    def transcribe(self, data: bytes, options: STTOptions | None, timeout: float | None) -> _Call:
        """``POST /waves/v1/stt/`` with the file's bytes (STT §1.6); ``encoding`` and
        ``sample_rate`` only for headerless audio (D18)."""
        opts = (options or STTOptions()).check_batch()
        check_batch_size(len(data))
        container = has_container(data)
        return _Call(
            "POST",
            STT_BATCH_PATH,
            body=data,
            params=stt_query(opts, batch=True, raw_audio=not container),
            headers={Header.CONTENT_TYPE: MediaType.WAV if data[:4] == b"RIFF" else OCTET_STREAM},
            timeout=timeout,
        )

    def add_voice(
        self,
        *,
        display_name: str,
        file: bytes | str | os.PathLike[str],
        filename: str | None,
        content_type: str | None,
        description: str | None,
        accent: str | None,
        tags: Sequence[str] | None,
        language: str | None,
        model: str | None,
    ) -> _Call:
        """The clone upload, checked; a path is not read here (see :func:`_read_sample`)."""
        if not display_name or len(display_name) > 500:
            raise InvalidOptionError("display_name", display_name, "1-500 characters")
        payload: bytes | Path
        if isinstance(file, bytes):
            payload, name = file, filename or "sample.wav"
        else:
            payload = Path(file)
            name = filename or payload.name
        ctype = content_type or CLONE_CONTENT_TYPES.get(Path(name).suffix.lower())
        if ctype is None:
            raise InvalidOptionError(
                "content_type",
                content_type,
                ", ".join(sorted(set(CLONE_CONTENT_TYPES.values()))),
                problem=f"is needed: the audio type of {name!r} cannot be told from its name",
            )
        data: dict[str, str] = {"displayName": display_name}
        for key, value in (
            ("description", description),
            ("accent", accent),
            ("language", language),
        ):
            if value:
                data[key] = value
        if tags:
            data["tags"] = ",".join(tags)
        if model:
            data["model"] = catalog_model(model)
        return _Call("POST", CLONE_PATH, files={"file": (name, payload, ctype)}, data=data)

    def list_clones(self) -> _Call:
        return _Call("GET", CLONE_PATH)

    def delete_voice(self, voice_id: str) -> _Call:
        return _Call("DELETE", f"{CLONE_PATH}/{voice_id}")

    def dicts(self) -> _Call:
        return _Call("GET", DICTS_PATH)

    def create_dict(self, items: Sequence[tuple[str, str]]) -> _Call:
        return _Call("POST", DICTS_PATH, json={"items": _items(items)})

    def update_dict(self, dict_id: str, items: Sequence[tuple[str, str]]) -> _Call:
        return _Call("PUT", DICTS_PATH, json={"id": dict_id, "items": _items(items)})

    def delete_dict(self, dict_id: str) -> _Call:
        return _Call("DELETE", DICTS_PATH, json={"id": dict_id})

    # -- reading ----------------------------------------------------------------------
    @staticmethod
    def check(response: httpx.Response, body: bytes) -> None:
        if response.status_code >= 400:
            raise error_from_status(response.status_code, body, dict(response.headers))

    @staticmethod
    def json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise SmallestError(
                f"expected JSON from {response.request.url.path}, got "
                f"{redact(response.text[:200])!r}"
            ) from None


_TLS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def _tls() -> ssl.SSLContext:
    """The TLS context every client shares, made as httpx makes its own (certifi, or
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``), once per setting of those variables.

    A context per client costs 50-250 ms of CA loading, and tools make a client per
    call (an async HTTP pool belongs to one event loop): that would come out of the
    caller's time budget.
    """
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _TLS.get(key)
    if context is None:
        context = _TLS[key] = httpx.create_ssl_context()
    return context


def _read_sample(call: _Call) -> _Call:
    """Put the clone sample's bytes into ``call`` when it names a file (a blocking read).

    Kept out of :meth:`_Api.add_voice` so that building the call does no I/O: the sync
    client calls this directly, the async one in a worker thread, so a slow disk (or a
    pipe) never stalls the event loop. The bytes are read once, before any retry.
    """
    name, payload, ctype = call.files["file"]
    if isinstance(payload, Path):
        call.files = {"file": (name, payload.read_bytes(), ctype)}
    return call


def _read_audio(audio_in: AudioInput) -> bytes:
    """The bytes of ``audio_in`` (a blocking read for paths and file objects), checked
    against the 250 MB limit before anything is uploaded — a path by its size, before
    reading it; a file object by reading at most one byte past the limit.

    Raises:
        InvalidOptionError: too large, empty, or not audio input (names ``audio``).
    """
    if isinstance(audio_in, bytes | bytearray | memoryview):
        data = bytes(audio_in)
    elif isinstance(audio_in, str | os.PathLike):
        path = Path(audio_in)
        check_batch_size(path.stat().st_size)
        data = path.read_bytes()
    elif hasattr(audio_in, "read"):
        data = audio_in.read(MAX_BATCH_BYTES + 1)
        if not isinstance(data, bytes):
            raise InvalidOptionError(
                "audio", audio_in, "a binary file object", problem="is a text file object"
            )
    else:
        raise InvalidOptionError(
            "audio", audio_in, "bytes, a path, or a binary file object", problem="is not audio"
        )
    check_batch_size(len(data))
    return data


def _items(items: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"word": w, "pronunciation": p} for w, p in items]


def _transport_error(exc: httpx.HTTPError) -> SmallestError:
    """Map httpx failures to our taxonomy (from None: the request may hold the key)."""
    if isinstance(exc, httpx.TimeoutException):
        return SmallestTimeout(f"request timed out: {type(exc).__name__}")
    return ConnectionLostError(f"connection failed: {type(exc).__name__}: {redact(str(exc))}")


def _to_wav(data: bytes, opts: TTSOptions) -> bytes:
    if opts.output_format == "wav":
        return data
    return audio.pcm_to_wav(
        audio.decode_to_pcm(data, opts.output_format, opts.sample_rate), opts.sample_rate
    )


class _SSEStream:
    """Turns SSE bytes into audio chunks for one attempt; shared by both ``stream()``s."""

    def __init__(self, request_id: str) -> None:
        self._decoder = SSEDecoder(request_id=request_id)
        self.done = False

    def feed(self, data: bytes) -> list[AudioChunk]:
        return self._take(self._decoder.feed(data))

    def close(self) -> list[AudioChunk]:
        return [] if self.done else self._take(self._decoder.close())

    def _take(self, events: list[Any]) -> list[AudioChunk]:
        chunks = []
        for event in events:
            if isinstance(event, AudioChunk):
                chunks.append(event)
            elif isinstance(event, Complete):
                self.done = True
            elif isinstance(event, ErrorEvent):
                raise event.error
        return chunks


class _CloneWatch:
    """Polling state for ``wait_for_voice``: backoff, deadline, which callback fires."""

    def __init__(self, voice_id: str, timeout: float, interval: float, max_interval: float):
        self.voice_id = voice_id
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.interval = interval
        self.max_interval = max_interval

    def observe(self, clones: list[ClonedVoice]) -> ClonedVoice | float:
        """The clone once final, else seconds to wait before polling again.

        Raises:
            InvalidRequestError: no clone has this id.
            RequestTimeoutError: the deadline passed.
        """
        clone = next((c for c in clones if c.voice_id == self.voice_id), None)
        if clone is None:
            raise InvalidRequestError(f"no voice clone with id {self.voice_id!r}", status_code=404)
        if clone.final:
            return clone
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise SmallestTimeout(
                f"voice {self.voice_id} still {clone.status} after {self.timeout:g} s"
            )
        wait, self.interval = (
            min(self.interval, remaining),
            min(self.interval * 2, self.max_interval),
        )
        return wait

    @staticmethod
    def callback(clone: ClonedVoice, on_ready: Any, on_failed: Any) -> Any:
        return on_ready if clone.ready else on_failed


Callback = Callable[[ClonedVoice], Any]


class AsyncRestClient:
    """Async REST client for the Waves API.

    Args:
        api_key: Bearer key; default ``$SMALLEST_API_KEY``.
        base_url: the service or a local server (``http://host:port``); ws(s) URLs are
            taken too (one URL for both transports). Default ``$SMALLEST_BASE_URL``, else
            ``https://api.smallest.ai``.
        options: default synthesis options.
        client: your own ``httpx.AsyncClient`` (we do not close it).
        timeout: seconds per request when we create the client.
        retry: retry policy for 408/429/5xx/dropped connections (None: no retries).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        options: TTSOptions | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._api = _Api(api_key, base_url, options)
        self._own = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout, verify=_tls())
        self.retry = retry if retry is not None else RetryPolicy()

    async def __aenter__(self) -> AsyncRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if we created it."""
        if self._own:
            await self._client.aclose()

    def __repr__(self) -> str:
        return f"AsyncRestClient({self._api.base_url!r}, key={mask_key(self._api.api_key)})"

    # -- plumbing ---------------------------------------------------------------------
    async def _send(
        self, call: _Call, *, stream: bool = False, attempts: Attempts | None = None
    ) -> httpx.Response:
        """Send with retries until a successful (2xx) response starts.

        ``attempts``: the operation's bookkeeping when it spans more than this request
        (an SSE stream), so retries are counted once; a fresh one under ``self.retry``
        otherwise.
        """
        if self._client.is_closed:  # httpx would raise an untyped RuntimeError
            raise InvalidState("the client is closed")
        if attempts is None:
            attempts = Attempts(self.retry, time.monotonic())
        while True:
            try:
                request = self._client.build_request(
                    call.method,
                    self._api.base_url + call.path,
                    content=call.content(),
                    files=call.files,
                    data=call.data,
                    headers={**self._api.headers(), **call.headers},
                    **call.extra(),
                )
                response = await self._client.send(request, stream=True)
                if response.status_code < 400:
                    if not stream:
                        await response.aread()
                    return response
                body = await response.aread()
                await response.aclose()
                error: SmallestError = error_from_status(
                    response.status_code, body, dict(response.headers)
                )
            except httpx.HTTPError as exc:
                error = _transport_error(exc)
            await asyncio.sleep(attempts.next_delay(error, time.monotonic()))  # backoff

    async def _json(self, call: _Call) -> Any:
        response = await self._send(call)
        return self._api.json(response)

    # -- synthesis --------------------------------------------------------------------
    async def synthesize(
        self,
        text: str,
        *,
        options: TTSOptions | None = None,
        request_id: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - each attempt's, passed to httpx
    ) -> bytes:
        """Synthesize ``text``; the bytes follow ``options.output_format`` (§3).

        ``retry`` overrides the client's policy for this call and ``timeout`` bounds each
        attempt (connect, send, and every wait for the server; default: the client's):
        a framework's per-call retry and time budget.

        Raises:
            InvalidRequestError, AuthenticationError, PermissionDeniedError, RateLimitError,
            ServerError, ConnectionLostError, RequestTimeoutError: typed failures (retryable ones
            were retried first).
        """
        attempts = Attempts(retry or self.retry, time.monotonic())
        call = self._api.tts(text, options, request_id, timeout)
        response = await self._send(call, attempts=attempts)
        return response.content

    async def synthesize_to_file(
        self, text: str, path: str | os.PathLike[str], *, options: TTSOptions | None = None
    ) -> Path:
        """Synthesize into a WAV file (PCM/G.711 bodies get a RIFF header)."""
        opts = options or self._api.options
        if opts.output_format == "mp3":
            raise InvalidOptionError(
                "output_format",
                "mp3",
                "pcm, wav, ulaw, alaw",
                problem="cannot be written by synthesize_to_file (WAV out; no MP3 decoder)",
            )
        data = await self.synthesize(text, options=opts)
        out = Path(path)
        await asyncio.to_thread(out.write_bytes, _to_wav(data, opts))
        return out

    async def stream(
        self,
        text: str,
        *,
        options: TTSOptions | None = None,
        request_id: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - each attempt's, passed to httpx
    ) -> AsyncIterator[AudioChunk]:
        """Stream ``text`` over SSE (§4): audio chunks as the server produces them.

        ``timeout`` bounds each attempt's connect and every wait for the next bytes
        (default: the client's).

        Retried transparently until the first chunk is yielded (``retry``, else the
        client's policy, counting every attempt once); after that a failure raises
        :class:`ConnectionLostError`.
        """
        attempts = Attempts(retry or self.retry, time.monotonic(), what="SSE stream")
        while True:
            try:
                response = await self._send(
                    self._api.sse(text, options, request_id, timeout),
                    stream=True,
                    attempts=attempts,
                )
                sse = _SSEStream(request_id or "")
                try:
                    async for data in response.aiter_bytes():
                        for chunk in sse.feed(data):
                            attempts.output()
                            yield chunk
                        if sse.done:
                            return
                    for chunk in sse.close():
                        attempts.output()
                        yield chunk
                    return
                finally:
                    await response.aclose()
            except httpx.HTTPError as exc:
                error = _transport_error(exc)
            except SmallestError as exc:
                error = exc
            await asyncio.sleep(attempts.next_delay(error, time.monotonic()))  # backoff

    # -- transcription ----------------------------------------------------------------
    async def transcribe(
        self,
        audio: AudioInput,
        *,
        options: STTOptions | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the HTTP request's, passed to httpx
        retry: RetryPolicy | None = None,
    ) -> Transcription:
        """Transcribe a whole file (``POST /waves/v1/stt/``, STT §1.6).

        ``audio`` is WAV (or another container the service sniffs: MP3, FLAC, Ogg, M4A,
        WebM) or headerless audio in ``options.encoding`` at ``options.sample_rate``,
        given as bytes, a path or a binary file object. Paths and files are read in a
        worker thread, and the 250 MB limit is checked before the upload.

        Args:
            audio: the audio, see above.
            options: model, language, word timestamps, diarization, redaction
                (default ``STTOptions()``); streaming-only settings are ignored.
            timeout: seconds for this request (default: the client's).
            retry: overrides the client's retry policy (429/5xx, dropped connections).

        Raises:
            InvalidOptionError: too large or empty audio, options batch cannot take.
            AuthenticationError, PermissionDeniedError, InvalidRequestError,
            RateLimitError, ServerError, ConnectionLostError, RequestTimeoutError: typed
                failures (retryable ones were retried first).
            ProtocolError: the response was not a transcription.
        """
        data = await asyncio.to_thread(_read_audio, audio)
        call = self._api.transcribe(data, options, timeout)
        attempts = Attempts(retry or self.retry, time.monotonic(), what="transcription")
        response = await self._send(call, attempts=attempts)
        return parse_transcription(response.content)

    # -- voices and cloning -----------------------------------------------------------
    async def voices(self, model: str = "lightning_v3.1") -> list[Voice]:
        """The voice catalog (§7); ``model`` in either spelling (underscore or hyphen)."""
        data = await self._json(self._api.voices(model))
        return [Voice.from_json(v) for v in data.get("voices", [])]

    async def add_voice(
        self,
        *,
        display_name: str,
        file: bytes | str | os.PathLike[str],
        filename: str | None = None,
        content_type: str | None = None,
        description: str | None = None,
        accent: str | None = None,
        tags: Sequence[str] | None = None,
        language: str | None = None,
        model: str | None = None,
    ) -> ClonedVoice:
        """Start a voice clone from 5-15 s of clean speech (a path or bytes) (§7).

        A path is read in a worker thread, never on the event loop.
        """
        call = self._api.add_voice(
            display_name=display_name,
            file=file,
            filename=filename,
            content_type=content_type,
            description=description,
            accent=accent,
            tags=tags,
            language=language,
            model=model,
        )
        data = await self._json(await asyncio.to_thread(_read_sample, call))
        return ClonedVoice.from_json(data.get("data", data))

    async def clones(self) -> list[ClonedVoice]:
        """Every voice clone of the account, with its current status."""
        data = await self._json(self._api.list_clones())
        return [ClonedVoice.from_json(v) for v in data.get("data", [])]

    async def delete_voice(self, voice_id: str) -> None:
        """Delete a clone (local server; the real service deletes from the dashboard, §7)."""
        await self._send(self._api.delete_voice(voice_id))

    async def wait_for_voice(
        self,
        voice_id: str,
        *,
        on_ready: Callback | None = None,
        on_failed: Callback | None = None,
        timeout: float = 600.0,  # noqa: ASYNC109 - bounds the whole watch, not one call
        poll_interval: float = 0.5,
        max_poll_interval: float = 10.0,
    ) -> ClonedVoice:
        """Watch a clone job until it completes or fails, then call back once.

        Polls the clone list (there is no per-clone GET and no webhook, §7) with
        exponential backoff from ``poll_interval`` to ``max_poll_interval``. Callbacks may
        be sync or async; each fires at most once.

        Raises:
            RequestTimeoutError: the job did not finish within ``timeout`` seconds.
            InvalidRequestError: no clone has that id.
        """
        watch = _CloneWatch(voice_id, timeout, poll_interval, max_poll_interval)
        while True:
            seen = watch.observe(await self.clones())
            if isinstance(seen, ClonedVoice):
                callback = watch.callback(seen, on_ready, on_failed)
                if callback is not None:
                    result = callback(seen)
                    if inspect.isawaitable(result):
                        await result
                return seen
            await asyncio.sleep(seen)  # polling interval

    # -- pronunciation dictionaries ---------------------------------------------------
    async def dictionaries(self) -> list[PronunciationDictionary]:
        """Every pronunciation dictionary of the account."""
        data = await self._json(self._api.dicts())
        return [PronunciationDictionary.from_json(d) for d in data]

    async def create_dictionary(self, items: Sequence[tuple[str, str]]) -> PronunciationDictionary:
        """Create a dictionary of ``(word, pronunciation)`` pairs (at least one)."""
        return PronunciationDictionary.from_json(await self._json(self._api.create_dict(items)))

    async def update_dictionary(
        self, dict_id: str, items: Sequence[tuple[str, str]]
    ) -> PronunciationDictionary:
        """Replace a dictionary's items."""
        return PronunciationDictionary.from_json(
            await self._json(self._api.update_dict(dict_id, items))
        )

    async def delete_dictionary(self, dict_id: str) -> None:
        """Delete a dictionary."""
        await self._send(self._api.delete_dict(dict_id))


class RestClient:
    """The synchronous twin of :class:`AsyncRestClient` (same arguments, same errors)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        options: TTSOptions | None = None,
        client: httpx.Client | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._api = _Api(api_key, base_url, options)
        self._own = client is None
        self._client = client or httpx.Client(timeout=timeout, verify=_tls())
        self.retry = retry if retry is not None else RetryPolicy()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client if we created it."""
        if self._own:
            self._client.close()

    def __repr__(self) -> str:
        return f"RestClient({self._api.base_url!r}, key={mask_key(self._api.api_key)})"

    def _send(
        self, call: _Call, *, stream: bool = False, attempts: Attempts | None = None
    ) -> httpx.Response:
        """See :meth:`AsyncRestClient._send`."""
        if self._client.is_closed:  # httpx would raise an untyped RuntimeError
            raise InvalidState("the client is closed")
        if attempts is None:
            attempts = Attempts(self.retry, time.monotonic())
        while True:
            try:
                request = self._client.build_request(
                    call.method,
                    self._api.base_url + call.path,
                    content=call.content(),
                    files=call.files,
                    data=call.data,
                    headers={**self._api.headers(), **call.headers},
                    **call.extra(),
                )
                response = self._client.send(request, stream=True)
                if response.status_code < 400:
                    if not stream:
                        response.read()
                    return response
                body = response.read()
                response.close()
                error: SmallestError = error_from_status(
                    response.status_code, body, dict(response.headers)
                )
            except httpx.HTTPError as exc:
                error = _transport_error(exc)
            time.sleep(attempts.next_delay(error, time.monotonic()))  # backoff

    def _json(self, call: _Call) -> Any:
        return self._api.json(self._send(call))

    def synthesize(
        self,
        text: str,
        *,
        options: TTSOptions | None = None,
        request_id: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> bytes:
        """See :meth:`AsyncRestClient.synthesize`."""
        attempts = Attempts(retry or self.retry, time.monotonic())
        call = self._api.tts(text, options, request_id, timeout)
        return self._send(call, attempts=attempts).content

    def synthesize_to_file(
        self, text: str, path: str | os.PathLike[str], *, options: TTSOptions | None = None
    ) -> Path:
        """See :meth:`AsyncRestClient.synthesize_to_file`."""
        opts = options or self._api.options
        if opts.output_format == "mp3":
            raise InvalidOptionError(
                "output_format",
                "mp3",
                "pcm, wav, ulaw, alaw",
                problem="cannot be written by synthesize_to_file (WAV out; no MP3 decoder)",
            )
        out = Path(path)
        out.write_bytes(_to_wav(self.synthesize(text, options=opts), opts))
        return out

    def stream(
        self,
        text: str,
        *,
        options: TTSOptions | None = None,
        request_id: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> Iterator[AudioChunk]:
        """See :meth:`AsyncRestClient.stream` (retried only before the first chunk)."""
        attempts = Attempts(retry or self.retry, time.monotonic(), what="SSE stream")
        while True:
            try:
                response = self._send(
                    self._api.sse(text, options, request_id, timeout),
                    stream=True,
                    attempts=attempts,
                )
                sse = _SSEStream(request_id or "")
                try:
                    for data in response.iter_bytes():
                        for chunk in sse.feed(data):
                            attempts.output()
                            yield chunk
                        if sse.done:
                            return
                    for chunk in sse.close():
                        attempts.output()
                        yield chunk
                    return
                finally:
                    response.close()
            except httpx.HTTPError as exc:
                error = _transport_error(exc)
            except SmallestError as exc:
                error = exc
            time.sleep(attempts.next_delay(error, time.monotonic()))  # backoff

    def transcribe(
        self,
        audio: AudioInput,
        *,
        options: STTOptions | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> Transcription:
        """See :meth:`AsyncRestClient.transcribe`."""
        call = self._api.transcribe(_read_audio(audio), options, timeout)
        attempts = Attempts(retry or self.retry, time.monotonic(), what="transcription")
        return parse_transcription(self._send(call, attempts=attempts).content)

    def voices(self, model: str = "lightning_v3.1") -> list[Voice]:
        """See :meth:`AsyncRestClient.voices`."""
        return [Voice.from_json(v) for v in self._json(self._api.voices(model)).get("voices", [])]

    def add_voice(
        self,
        *,
        display_name: str,
        file: bytes | str | os.PathLike[str],
        filename: str | None = None,
        content_type: str | None = None,
        description: str | None = None,
        accent: str | None = None,
        tags: Sequence[str] | None = None,
        language: str | None = None,
        model: str | None = None,
    ) -> ClonedVoice:
        """See :meth:`AsyncRestClient.add_voice`."""
        call = self._api.add_voice(
            display_name=display_name,
            file=file,
            filename=filename,
            content_type=content_type,
            description=description,
            accent=accent,
            tags=tags,
            language=language,
            model=model,
        )
        data = self._json(_read_sample(call))
        return ClonedVoice.from_json(data.get("data", data))

    def clones(self) -> list[ClonedVoice]:
        """See :meth:`AsyncRestClient.clones`."""
        return [
            ClonedVoice.from_json(v) for v in self._json(self._api.list_clones()).get("data", [])
        ]

    def delete_voice(self, voice_id: str) -> None:
        """See :meth:`AsyncRestClient.delete_voice`."""
        self._send(self._api.delete_voice(voice_id))

    def wait_for_voice(
        self,
        voice_id: str,
        *,
        on_ready: Callable[[ClonedVoice], Any] | None = None,
        on_failed: Callable[[ClonedVoice], Any] | None = None,
        timeout: float = 600.0,
        poll_interval: float = 0.5,
        max_poll_interval: float = 10.0,
    ) -> ClonedVoice:
        """See :meth:`AsyncRestClient.wait_for_voice` (callbacks must be plain functions)."""
        watch = _CloneWatch(voice_id, timeout, poll_interval, max_poll_interval)
        while True:
            seen = watch.observe(self.clones())
            if isinstance(seen, ClonedVoice):
                callback = watch.callback(seen, on_ready, on_failed)
                if callback is not None:
                    callback(seen)
                return seen
            time.sleep(seen)  # polling interval

    def dictionaries(self) -> list[PronunciationDictionary]:
        """See :meth:`AsyncRestClient.dictionaries`."""
        return [PronunciationDictionary.from_json(d) for d in self._json(self._api.dicts())]

    def create_dictionary(self, items: Sequence[tuple[str, str]]) -> PronunciationDictionary:
        """See :meth:`AsyncRestClient.create_dictionary`."""
        return PronunciationDictionary.from_json(self._json(self._api.create_dict(items)))

    def update_dictionary(
        self, dict_id: str, items: Sequence[tuple[str, str]]
    ) -> PronunciationDictionary:
        """See :meth:`AsyncRestClient.update_dictionary`."""
        return PronunciationDictionary.from_json(self._json(self._api.update_dict(dict_id, items)))

    def delete_dictionary(self, dict_id: str) -> None:
        """See :meth:`AsyncRestClient.delete_dictionary`."""
        self._send(self._api.delete_dict(dict_id))
