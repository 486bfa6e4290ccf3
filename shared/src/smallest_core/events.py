"""Events: what the server said, as typed values, one class per server frame kind.

What lives here: frozen, slotted dataclasses the protocol produces and adapters
``match`` on — :class:`AudioChunk`, :class:`WordTimestamp`, :class:`Complete`,
:class:`ErrorEvent` — and the :data:`Event` union. Each carries the request id it
belongs to. What must not: behaviour, parsing, or wire names (see
:mod:`smallest_core.codec`). Reprs stay short and safe to log: audio shows as a byte
count, never the bytes.

``request_id`` is our id (the frame's ``external_request_id``, else ``context_id``).
It is None only on events :func:`~smallest_core.codec.parse_frame` built from a frame
that carried no id; :class:`~smallest_core.protocol.Protocol` never emits those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from .errors import SmallestError

__all__ = ["AudioChunk", "Complete", "ErrorEvent", "Event", "WordTimestamp"]


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of audio for one request (``status: "chunk"``, docs/protocol.md §5.3, §4).

    On the WebSocket ``audio`` is raw PCM s16le mono at the requested sample rate; over
    SSE it follows the requested ``output_format``.

    Attributes:
        request_id: our id of the request.
        audio: the decoded bytes.
        server_request_id: the server's id for the synthesis request, when sent.
    """

    request_id: str | None
    audio: bytes
    server_request_id: str | None = None

    def __repr__(self) -> str:
        return f"AudioChunk(request_id={self.request_id!r}, audio=<{len(self.audio)} bytes>)"


@dataclass(frozen=True, slots=True)
class WordTimestamp:
    """When one input word is spoken (``status: "word_timestamp"``, §5.3).

    On the wire, times are seconds from the start of the server request's audio (§9.6),
    and a server may restart them (and the word ids) at 0 for each sentence release of
    a context (§12). Events from :class:`~smallest_core.Protocol` (and so from an
    :class:`~smallest_core.Utterance`) are already on the utterance's own timeline:
    ``start``/``end`` count from the utterance's first audio sample and ``index``
    counts the utterance's words, across releases.

    Attributes:
        request_id: our id of the request.
        index: 0-based index of the word in the request's text (the frame's ``id``).
        word: the input substring, verbatim (un-normalised, e.g. ``$100``).
        start: start time in seconds.
        end: end time in seconds.
        server_request_id: the server's id; it changes when timestamps restart.
    """

    request_id: str | None
    index: int
    word: str
    start: float
    end: float
    server_request_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"WordTimestamp(request_id={self.request_id!r}, index={self.index}, "
            f"word={self.word[:40]!r}, start={self.start:.3f}, end={self.end:.3f})"
        )


@dataclass(frozen=True, slots=True)
class Complete:
    """The request finished; no more events follow for it (``status: "complete"``, §5.3).

    Also produced locally for an utterance that never sent any text (the server would
    send nothing at all for it, §5.4), and by the SSE terminator ``done: true`` (§4).

    In continuations mode a server may send one ``complete`` per sentence release of a
    context (§12); the :class:`Complete` an :class:`~smallest_core.Utterance` ends on is
    the one the protocol's end rule (:class:`~smallest_core.EndRule`) decided is the last.

    Attributes:
        request_id: our id of the request.
        server_request_id: the server's id of the (release's) request, when sent; not
            part of equality.
    """

    request_id: str | None
    server_request_id: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """A request failed; ``error`` is the typed error to raise or report.

    Attributes:
        request_id: our id of the failed request; None for a connection-wide error.
        error: the :class:`SmallestError` (already redacted).
    """

    request_id: str | None
    error: SmallestError

    def __repr__(self) -> str:
        return f"ErrorEvent(request_id={self.request_id!r}, error={self.error!r})"


#: Everything :meth:`Protocol.events_received` and :class:`SSEDecoder` can produce.
Event: TypeAlias = AudioChunk | WordTimestamp | Complete | ErrorEvent
