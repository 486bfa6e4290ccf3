"""The sans-I/O WebSocket protocol: utterances in, frames out; frames in, routed events out.

What lives here: :class:`Protocol`, one per socket. It decides which frames to send for
each caller action (through :mod:`smallest_core.codec`), keeps each utterance's state
(through the table in :mod:`smallest_core.state`), routes every server frame to its
utterance by the id the frame carries, drops and counts what belongs to nobody, and
fails everything at once when the connection breaks. What must not: sockets, asyncio,
clocks, timers, retries, or logging of user text. The transport (``stream.py``) moves
strings and calls, in the websockets pairing:

* ``open``/``send_text``/``flush``/``end``/``cancel`` → then :meth:`Protocol.data_to_send`;
* ``receive_text``/``receive_bytes``/``connection_lost`` → then
  :meth:`Protocol.events_received`.

Two modes (PROTOCOL.md §5.2, §12):

* ``"continuations"`` (default): utterances are multiplexed by ``context_id`` (also sent
  as ``request_id``), each ends on its own ``complete``, and ``cancel`` tells the server
  (``cancel_request``).
* ``"flush"``: ``continue``/``flush`` with a fresh ``request_id`` per utterance; one
  utterance open for text at a time, earlier ones may still be ending (pipelined);
  there is no cancel message (§5.4), so a cancelled utterance's frames are dropped here.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal, get_args

from .codec import ctx_cancel, ctx_flush, ctx_text, parse_frame, ws_flush, ws_text
from .errors import InvalidOptionError, InvalidState, ProtocolError, SmallestError
from .events import AudioChunk, Complete, ErrorEvent, Event, WordTimestamp
from .options import TTSOptions, validate_request_id
from .state import Action, UtteranceState, transition

__all__ = ["MODES", "Mode", "Protocol"]

logger = logging.getLogger("smallest_core")

Mode = Literal["continuations", "flush"]
MODES: tuple[Mode, ...] = get_args(Mode)

#: How many finished request ids a connection remembers (to refuse their reuse and to
#: order flush-mode completes). Older ones are forgotten; their late frames are then
#: "unknown", which is dropped just the same.
HISTORY_LIMIT = 4096

_OPEN = UtteranceState.OPEN
_ENDING = UtteranceState.ENDING


@dataclass(slots=True)
class _Utterance:
    request_id: str
    options: TTSOptions
    #: Open order on this connection; in flush mode also the server's processing order.
    seq: int
    state: UtteranceState = _OPEN
    #: A non-blank fragment went out, so the server knows this request/context.
    sent_text: bool = False
    #: Text went out since the last flush (a flush with nothing buffered does nothing).
    unflushed: bool = False
    #: Whitespace-only fragments held back until the next real text (§5.4).
    pending: str = ""
    #: Flush mode: the server sent ``complete`` for everything this utterance sent so
    #: far (nothing is buffered server-side), so an empty ``end()`` gets no frames back.
    drained: bool = False


class Protocol:
    """One WebSocket connection's protocol state, without any I/O.

    Args:
        options: default options for utterances opened without their own.
        mode: ``"continuations"`` (multiplexed, §12) or ``"flush"`` (§5.2).

    Raises:
        InvalidOptionError: an unknown ``mode`` or ``options`` that is not a TTSOptions.
    """

    def __init__(self, options: TTSOptions, *, mode: Mode = "continuations") -> None:
        if not isinstance(options, TTSOptions):
            raise InvalidOptionError("options", options, "a TTSOptions", problem="is not valid")
        if mode not in MODES:
            raise InvalidOptionError("mode", mode, ", ".join(MODES))
        self.options = options
        self.mode: Mode = mode
        self._utts: dict[str, _Utterance] = {}  # active ones, in open order
        self._history: OrderedDict[str, tuple[UtteranceState, int]] = OrderedDict()
        self._seq = 0
        self._outgoing: list[str] = []
        self._events: list[Event] = []
        self._dropped = 0
        self._error: SmallestError | None = None
        #: flush mode: open order (seq) of cancelled requests the server is still working on
        self._abandoned: set[int] = set()

    # -- what the transport reads ----------------------------------------------------------
    @property
    def multiplexed(self) -> bool:
        """Whether several utterances may be open for text at once (continuations only)."""
        return self.mode == "continuations"

    @property
    def active(self) -> tuple[str, ...]:
        """Ids of utterances not finished (OPEN or ENDING), in open order."""
        return tuple(self._utts)

    @property
    def dropped(self) -> int:
        """Server frames dropped: for unknown, cancelled or finished ids, or after failure."""
        return self._dropped

    @property
    def draining(self) -> bool:
        """Flush mode: the server is still synthesizing a cancelled request (§5.4 has no
        cancel), so a new request on this socket would queue behind it."""
        return bool(self._abandoned)

    @property
    def poisoned(self) -> bool:
        """True once the connection failed; every later call but ``cancel`` raises."""
        return self._error is not None

    @property
    def error(self) -> SmallestError | None:
        """The error that poisoned the connection, if any."""
        return self._error

    def state(self, request_id: str) -> UtteranceState:
        """The state of an utterance (remembered for a while after it finished).

        Raises:
            InvalidState: the id was never opened here (or was forgotten long ago).
        """
        utt = self._utts.get(request_id)
        if utt is not None:
            return utt.state
        if request_id in self._history:
            return self._history[request_id][0]
        raise InvalidState(f"unknown request {request_id!r}", request_id=request_id)

    def data_to_send(self) -> list[str]:
        """Frames to write, in order; each call returns only what is new."""
        out, self._outgoing = self._outgoing, []
        return out

    def events_received(self) -> list[Event]:
        """Events produced since the last call, in the order they happened."""
        out, self._events = self._events, []
        return out

    # -- caller actions --------------------------------------------------------------------
    def open(self, request_id: str | None = None, *, options: TTSOptions | None = None) -> str:
        """Start an utterance. Sends nothing: the server learns of it with its first text.

        Args:
            request_id: our id (sent as ``request_id``, and as ``context_id`` in
                continuations mode); ``u-<uuid4 hex>`` when None or empty.
            options: this utterance's options (default: the connection's).

        Returns:
            The utterance's id.

        Raises:
            InvalidOptionError: the id breaks the §2 pattern.
            InvalidState: the connection failed; the id is active or was used on this
                connection; or (flush mode) another utterance is still open for text.
        """
        self._check_usable()
        rid = validate_request_id(request_id or f"u-{uuid.uuid4().hex}")
        if options is not None and not isinstance(options, TTSOptions):
            raise InvalidOptionError("options", options, "a TTSOptions", problem="is not valid")
        if rid in self._utts:
            raise InvalidState(f"request {rid!r} is already active", request_id=rid)
        if rid in self._history:
            # Late frames of the old one would be taken for the new one (in continuations
            # the server also refuses a closed context_id).
            raise InvalidState(
                f"request id {rid!r} was already used on this connection; use a new id",
                request_id=rid,
            )
        if not self.multiplexed:
            for other in self._utts.values():
                if other.state is _OPEN:
                    raise InvalidState(
                        f"flush mode has one utterance open at a time: {other.request_id!r} "
                        f"is still open; end or cancel it before opening {rid!r}",
                        request_id=rid,
                    )
        self._seq += 1
        self._utts[rid] = _Utterance(rid, options or self.options, self._seq)
        logger.debug("= %s opened (%s)", rid, self.mode)
        return rid

    def send_text(self, request_id: str, text: str) -> None:
        """Queue a text fragment (``continue: true``); more text may follow.

        Whitespace-only fragments are held back and prefixed to the next real text: on
        their own they produce no audio (§5.4), but they may separate words or sentences.

        Raises:
            InvalidState: unknown id, the utterance ended or was cancelled, or the
                connection failed. (After an error event for it, the text is dropped.)
        """
        self._check_usable()
        _check_text(text)
        utt = self._live(request_id, Action.SEND_TEXT)
        if utt is None:
            return
        if not text.strip():
            utt.pending += text
            return
        self._send(utt, utt.pending + text, last=False)
        utt.pending = ""

    def flush(self, request_id: str) -> None:
        """Ask the server to speak what it has buffered for this utterance now.

        Sends nothing when no text went out since the last flush (§5.4: it would
        produce nothing).

        Raises:
            InvalidState: as for :meth:`send_text`.
        """
        self._check_usable()
        utt = self._live(request_id, Action.FLUSH)
        if utt is None or not utt.unflushed:
            return
        rid = utt.request_id
        frame = ctx_flush(utt.options, rid) if self.multiplexed else ws_flush(utt.options, rid)
        self._outgoing.append(frame)
        utt.unflushed = False

    def end(self, request_id: str, text: str = "") -> None:
        """Finish the utterance, optionally with a last fragment, in one closing frame.

        ``open`` + ``end(rid, text)`` is a one-shot request: exactly one frame. An
        utterance that never sent non-blank text sends nothing and completes at once
        with a local :class:`Complete` (the server would send no frames for it, §5.4).

        Raises:
            InvalidState: as for :meth:`send_text`.
        """
        self._check_usable()
        _check_text(text)
        utt = self._live(request_id, Action.END)
        if utt is None:
            return
        payload = utt.pending + text if text.strip() else ""
        utt.pending = ""
        if payload or (utt.sent_text and not utt.drained):
            self._send(utt, payload, last=True)
            return
        self._finish(utt, Action.COMPLETE)
        self._events.append(Complete(utt.request_id))

    def cancel(self, request_id: str) -> None:
        """Stop an utterance now; no event for it is produced after this returns.

        Continuations mode sends ``cancel_request`` (§12) if the server knows the
        context; flush mode has no cancel message (§5.4), so the server goes on and its
        frames for this id are dropped here. Idempotent: cancelling a finished utterance
        (or any utterance of a failed connection) does nothing.

        Raises:
            InvalidState: the id was never opened here.
        """
        utt = self._utts.get(request_id)
        if utt is None:
            transition(self.state(request_id), Action.CANCEL, request_id)
            return
        if self.multiplexed and utt.sent_text:
            self._outgoing.append(ctx_cancel(utt.options, request_id))
        elif utt.sent_text:
            self._abandoned.add(utt.seq)  # its audio and complete are still coming
        self._finish(utt, Action.CANCEL)
        self._events = [e for e in self._events if e.request_id != request_id]

    # -- what the peer did -----------------------------------------------------------------
    def receive_text(self, frame: str) -> None:
        """Feed one text frame from the server. Never raises.

        Frames for unknown, cancelled or finished ids are dropped and counted. A frame
        that cannot be parsed, and an error frame without a routable id (e.g. the §5.1
        idle timeout), fail the whole connection: every active utterance gets an
        :class:`ErrorEvent` and :attr:`poisoned` becomes True.
        """
        if self._error is not None:
            self._drop(None, "the connection already failed")
            return
        try:
            event = parse_frame(frame)
        except ProtocolError as exc:
            self._fail(exc)
            return
        self._route(event)

    def receive_bytes(self, data: bytes) -> None:
        """Feed a binary frame: none is documented (§5.3), so it fails the connection."""
        if self._error is not None:
            self._drop(None, "the connection already failed")
            return
        self._fail(ProtocolError(f"unexpected binary frame ({len(data)} bytes)"))

    def connection_lost(self, error: SmallestError) -> None:
        """The socket is gone: fail every active utterance with ``error``. Idempotent."""
        if self._error is None:
            self._fail(error)

    # -- internals -------------------------------------------------------------------------
    def _check_usable(self) -> None:
        if self._error is not None:
            raise InvalidState(f"the connection failed ({self._error}); open a new one")

    def _live(self, request_id: str, action: Action) -> _Utterance | None:
        """Apply a caller action; the utterance to act on, or None when it is absorbed."""
        utt = self._utts.get(request_id)
        if utt is None:
            transition(self.state(request_id), action, request_id)  # raises or absorbs
            return None
        self._set(utt, transition(utt.state, action, request_id))
        return utt

    def _send(self, utt: _Utterance, text: str, *, last: bool) -> None:
        rid, opts = utt.request_id, utt.options
        if self.multiplexed:
            frame = ctx_text(opts, rid, text, last=last)
        else:
            frame = ws_text(opts, rid, text, last=last)
        self._outgoing.append(frame)
        if text:
            utt.sent_text = utt.unflushed = True
            utt.drained = False

    def _set(self, utt: _Utterance, state: UtteranceState) -> None:
        if state is not utt.state:
            logger.debug("= %s %s -> %s", utt.request_id, utt.state.name, state.name)
            utt.state = state

    def _finish(self, utt: _Utterance, action: Action) -> None:
        """Apply a terminal action and move the utterance to the history."""
        self._set(utt, transition(utt.state, action, utt.request_id))
        del self._utts[utt.request_id]
        self._history[utt.request_id] = (utt.state, utt.seq)
        self._history.move_to_end(utt.request_id)
        while len(self._history) > HISTORY_LIMIT:
            self._history.popitem(last=False)

    def _drop(self, request_id: str | None, why: str) -> None:
        self._dropped += 1
        logger.debug("= dropped a frame for %s: %s", request_id, why)

    def _fail(self, error: SmallestError) -> None:
        """Poison the connection: every active utterance fails with ``error``."""
        self._error = error
        self._outgoing.clear()  # nothing more can usefully be written
        logger.debug("= connection failed: %r", error)
        for utt in list(self._utts.values()):
            self._finish(utt, Action.ERROR)
            self._events.append(ErrorEvent(utt.request_id, error))

    def _route(self, event: Event) -> None:
        rid = event.request_id
        if rid is None:
            if isinstance(event, ErrorEvent):
                self._fail(event.error)  # §5.1: an id-less error concerns the connection
            else:
                self._drop(None, "no request id")
            return
        if isinstance(event, Complete) and not self.multiplexed:
            self._complete_burst(rid)
            return
        utt = self._utts.get(rid)
        if utt is None:
            self._drop(rid, "unknown, cancelled or finished request")
            return
        if isinstance(event, AudioChunk | WordTimestamp):
            self._events.append(event)
        elif isinstance(event, Complete):
            if utt.state is not _ENDING:
                # §12: a context may get one complete per release; only the one after
                # the closing fragment ends it.
                self._drop(rid, "complete before end")
                return
            self._finish(utt, Action.COMPLETE)
            self._events.append(event)
        else:
            self._finish(utt, Action.ERROR)
            self._events.append(event)

    def _complete_burst(self, rid: str) -> None:
        """Flush mode: a ``complete`` for ``rid`` ends ``rid`` and everything ended before it.

        §5.4/§9.2: back-to-back requests on one socket may get a single ``complete``
        carrying the latest request's ids; requests are processed in order, so every
        utterance that was ENDING before ``rid`` opened is finished too. Works for a
        cancelled ``rid`` as well (its frames still arrive, §5.4).
        """
        if rid in self._utts:
            seq = self._utts[rid].seq
        elif rid in self._history:
            seq = self._history[rid][1]
        else:
            self._drop(rid, "unknown request")
            return
        self._abandoned = {a for a in self._abandoned if a > seq}
        for utt in self._utts.values():
            if utt.state is _OPEN and utt.seq <= seq and utt.sent_text:
                # §5.4: complete means nothing is buffered or synthesizing; if this
                # utterance then ends with no new text, the server sends nothing more.
                utt.drained = True
        done = [u for u in self._utts.values() if u.state is _ENDING and u.seq <= seq]
        if not done:
            self._drop(rid, "nothing is waiting for this complete")
            return
        for utt in done:
            self._finish(utt, Action.COMPLETE)
            self._events.append(Complete(utt.request_id))

    def __repr__(self) -> str:
        state = "failed" if self._error is not None else "ok"
        return (
            f"Protocol(mode={self.mode!r}, {state}, active={len(self._utts)}, "
            f"dropped={self._dropped})"
        )


def _check_text(text: object) -> None:
    if not isinstance(text, str):
        raise InvalidOptionError("text", text, "a str", problem="is not a str")
