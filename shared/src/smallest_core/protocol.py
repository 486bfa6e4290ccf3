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

Two modes (docs/protocol.md §5.2, §12):

* ``"continuations"`` (default): utterances are multiplexed by ``context_id`` (also sent
  as ``request_id``), each ends by the :class:`EndRule` (a server may send one
  ``complete`` per sentence release, §12), and ``cancel`` tells the server
  (``cancel_request``). Word timestamps are moved onto each utterance's own timeline.
* ``"flush"``: ``continue``/``flush`` with a fresh ``request_id`` per utterance; one
  utterance open for text at a time, earlier ones may still be ending (pipelined);
  there is no cancel message (§5.4), so a cancelled utterance's frames are dropped here.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from .codec import ctx_cancel, ctx_flush, ctx_text, parse_frame, ws_flush, ws_text
from .errors import InvalidOptionError, InvalidState, ProtocolError, SmallestError
from .events import AudioChunk, Complete, ErrorEvent, Event, WordTimestamp
from .options import TTSOptions, check_text, validate_request_id
from .state import Action, UtteranceState, transition

__all__ = ["MODES", "EndRule", "Mode", "Protocol", "Reading"]

logger = logging.getLogger("smallest_core")

Mode = Literal["continuations", "flush"]
MODES: tuple[Mode, ...] = get_args(Mode)

#: How many finished request ids a connection remembers (to refuse their reuse and to
#: order flush-mode completes). Older ones are forgotten; their late frames are then
#: "unknown", which is dropped just the same.
HISTORY_LIMIT = 4096

_OPEN = UtteranceState.OPEN
_ENDING = UtteranceState.ENDING
_DONE = UtteranceState.DONE

#: How the server signals the end of a context (§12, docs/protocol.md §13).
Reading = Literal["unknown", "context", "release"]
READINGS: tuple[Reading, ...] = get_args(Reading)

# Where a server may cut a context into releases: sentence punctuation followed by
# whitespace. Deliberately generous (";" and ":" count too): counting a release the
# server does not make only costs the quiet window; missing one would cut audio off.
_BOUNDARY = re.compile(r"[.!?…;:。！？।]+(?=\s)")
_BOUNDARY_CHARS = frozenset(".!?…;:。！？।")

#: Clean one-``complete`` endings of multi-release texts before ``"unknown"`` becomes
#: ``"context"`` (never after any per-release evidence).
LEARN_AFTER = 2


@dataclass(slots=True)
class EndRule:
    """When a continuations-mode utterance has ended: the rule, and what it has learned.

    The server's ``complete`` may come once per context or once per sentence *release*
    of a context with no terminal marker (§12; docs/protocol.md §13). When text arrives
    faster than speech, the closing fragment goes out while an earlier release is still
    generating, so "the first ``complete`` after ``end()``" can belong to that earlier
    release. The rule, after the closing fragment:

    1. a ``complete`` ends the utterance at once when the server is known to complete
       once per context (``reading == "context"``), or when the utterance has now seen
       at least as many ``complete`` frames as its text can make releases (sentence
       boundaries counted generously);
    2. otherwise the utterance ends after ``window`` seconds with no further frame for
       it (any frame restarts the wait; the transport runs the timer);
    3. frames that still arrive for an ended utterance are dropped, counted in
       :attr:`late_frames` and logged once; from then on rule 1's count shortcut is off
       (``strict``), so a too-short window shows up instead of silently cutting audio.

    One :class:`EndRule` is shared by every socket of a pool, so what one utterance
    teaches serves the rest: per-release evidence (a ``complete`` before the closing
    fragment, or audio after a ``complete``) sets ``reading = "release"`` for good;
    :data:`LEARN_AFTER` clean single-``complete`` endings of multi-release texts set
    ``"context"`` while no such evidence exists.

    Attributes:
        window: seconds of quiet that end an utterance when more releases may follow;
            grows to twice the longest gap seen between releases.
        reading: ``"unknown"`` (learn), ``"context"`` or ``"release"``; pass one of the
            latter to skip learning when you know the server.
        strict: always wait ``window`` after a ``complete`` (set by late frames).
        late_frames: frames dropped because they came after their utterance ended.
        clean_endings: single-``complete`` endings of multi-release texts seen so far.
        max_gap: longest quiet seen between a ``complete`` and more audio of the same
            context, in seconds (the transport reports it).

    Raises:
        InvalidOptionError: ``window`` is not a number in 0..10, or ``reading`` unknown.
    """

    window: float = 0.5
    reading: Reading = "unknown"
    strict: bool = False
    late_frames: int = 0
    clean_endings: int = 0
    max_gap: float = 0.0

    def __post_init__(self) -> None:
        w = self.window
        if isinstance(w, bool) or not isinstance(w, int | float) or not 0 <= w <= 10:
            raise InvalidOptionError("window", w, "a number of seconds in 0..10")
        if self.reading not in READINGS:
            raise InvalidOptionError("reading", self.reading, ", ".join(READINGS))

    @property
    def quiet(self) -> float:
        """The wait that ends an utterance when more releases may follow (seconds)."""
        return max(self.window, 2 * self.max_gap)

    def saw_release(self, why: str) -> None:
        """Evidence that the server completes once per release."""
        if self.reading != "release":
            logger.info("= the server completes once per sentence release (%s)", why)
            self.reading = "release"

    def saw_gap(self, seconds: float) -> None:
        """More audio came ``seconds`` after a ``complete`` of the same context."""
        self.max_gap = max(self.max_gap, seconds)

    def saw_late(self) -> None:
        if self.late_frames == 0:
            logger.warning(
                "= audio arrived after its utterance ended: the end window (%.3f s) is too "
                "short for this server; waiting the full window from now on",
                self.quiet,
            )
        self.late_frames += 1
        self.strict = True
        self.saw_release("late frames")

    def saw_clean_ending(self) -> None:
        self.clean_endings += 1
        if self.reading == "unknown" and self.clean_endings >= LEARN_AFTER:
            logger.info("= the server completes once per context; ending on its complete")
            self.reading = "context"


#: Rounding between a server's word times and the audio it sent (seconds).
_CLOCK_SLACK = 0.05


@dataclass(slots=True)
class _Release:
    """One server release of a context: the shift onto the utterance's timeline."""

    seconds: float
    words: int
    #: Decided by the release's first word whether the server already shifted it.
    checked: bool = False


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
    # -- the end rule (continuations) --
    #: Sentence boundaries in the text sent, and whether text follows the last one.
    boundaries: int = 0
    tail: bool = False
    last_char: str = ""
    #: ``complete`` frames received for this context, and whether nothing came since.
    completes: int = 0
    quiet_since_complete: bool = False
    #: A ``complete`` came after the closing fragment; the end waits for quiet. Bumped
    #: by every frame, so a timer started for an older value does nothing.
    quiet_gen: int = 0
    settling: bool = False
    # -- the timeline --
    #: PCM bytes delivered so far (continuations audio is s16 mono).
    audio_bytes: int = 0
    #: Words delivered so far (the next utterance-wide word index).
    words: int = 0
    #: server request id → where that release sits on the utterance's timeline.
    releases: dict[str, _Release] = field(default_factory=dict)

    def releases_possible(self) -> int:
        """How many releases the text sent can make at most (generous count)."""
        return self.boundaries + (1 if self.tail else 0)


class Protocol:
    """One WebSocket connection's protocol state, without any I/O.

    Args:
        options: default options for utterances opened without their own.
        mode: ``"continuations"`` (multiplexed, §12) or ``"flush"`` (§5.2).
        end_rule: when a continuations utterance has ended (shared by a pool's sockets
            so they learn together); a fresh :class:`EndRule` when None.

    Raises:
        InvalidOptionError: an unknown ``mode``, ``options`` that is not a TTSOptions,
            or ``end_rule`` that is not an EndRule.
    """

    def __init__(
        self,
        options: TTSOptions,
        *,
        mode: Mode = "continuations",
        end_rule: EndRule | None = None,
    ) -> None:
        if not isinstance(options, TTSOptions):
            raise InvalidOptionError("options", options, "a TTSOptions", problem="is not valid")
        if mode not in MODES:
            raise InvalidOptionError("mode", mode, ", ".join(MODES))
        if end_rule is not None and not isinstance(end_rule, EndRule):
            raise InvalidOptionError("end_rule", end_rule, "an EndRule", problem="is not valid")
        self.options = options
        self.mode: Mode = mode
        self.end_rule = end_rule if end_rule is not None else EndRule()
        self._utts: dict[str, _Utterance] = {}  # active ones, in open order
        self._quiet: list[tuple[str, int, float]] = []
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

    def knows(self, request_id: str) -> bool:
        """Whether ``request_id`` was opened here (and is not forgotten yet): such an id
        cannot be opened here again — a retry of it goes to another connection."""
        return request_id in self._utts or request_id in self._history

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

    def timers_to_start(self) -> list[tuple[str, int, float]]:
        """Quiet windows the transport must time: ``(request_id, generation, seconds)``.

        After each call that may produce events, start a timer per entry and, when it
        fires, call :meth:`quiet_elapsed` with the same id and generation (the protocol
        has no clock). A later entry for the same id supersedes the earlier one.
        """
        out, self._quiet = self._quiet, []
        return out

    def quiet_elapsed(self, request_id: str, generation: int) -> None:
        """A quiet window ran out: end the utterance if nothing arrived meanwhile.

        Does nothing when the utterance already finished or a frame came in after the
        timer started (its generation moved on).
        """
        utt = self._utts.get(request_id)
        if utt is None or not utt.settling or utt.quiet_gen != generation:
            return
        if utt.completes == 1 and utt.releases_possible() >= 2:
            self.end_rule.saw_clean_ending()
        self._finish(utt, Action.COMPLETE)
        self._events.append(Complete(request_id))

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

    def send_text(self, request_id: str, text: str, *, flush: bool = False) -> None:
        """Queue a text fragment (``continue: true``); more text may follow.

        Whitespace-only fragments are held back and prefixed to the next real text: on
        their own they produce no audio (§5.4), but they may separate words or sentences.
        ``flush=True`` is :meth:`flush` carried on the same frame: one message, not two.

        Raises:
            InvalidState: unknown id, the utterance ended or was cancelled, or the
                connection failed. (After an error event for it, the text is dropped.)
        """
        self._check_usable()
        check_text(text)
        utt = self._live(request_id, Action.SEND_TEXT)
        if utt is None:
            return
        if not text.strip():
            utt.pending += text
            if flush:
                self.flush(request_id)
            return
        if flush:
            self._set(utt, transition(utt.state, Action.FLUSH, request_id))
        self._send(utt, utt.pending + text, last=False, flush=flush)
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
        check_text(text)
        utt = self._live(request_id, Action.END)
        if utt is None:
            return
        payload = utt.pending + text if text.strip() else ""
        utt.pending = ""
        if payload or (utt.sent_text and not utt.drained):
            self._send(utt, payload, last=True)
            if not payload and utt.completes and utt.quiet_since_complete:
                self._closed_after_releases(utt)
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

    def _send(self, utt: _Utterance, text: str, *, last: bool, flush: bool = False) -> None:
        rid, opts = utt.request_id, utt.options
        if self.multiplexed:
            frame = ctx_text(opts, rid, text, last=last, flush=flush)
        else:
            frame = ws_text(opts, rid, text, last=last, flush=flush)
        self._outgoing.append(frame)
        if text:
            utt.sent_text = True
            utt.unflushed = not flush
            utt.drained = False
            _count_boundaries(utt, text)

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
        if logger.isEnabledFor(logging.DEBUG):  # the repr only when it is logged
            logger.debug("= connection failed: %s", repr(error))
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
            past = self._history.get(rid)
            if past is not None and past[0] is _DONE and not isinstance(event, Complete):
                self.end_rule.saw_late()  # rule 3: the window was too short
            self._drop(rid, "unknown, cancelled or finished request")
            return
        if isinstance(event, AudioChunk | WordTimestamp):
            utt.quiet_since_complete = False
            if utt.settling:  # more audio after a complete: it was a release's
                utt.settling = False
                utt.quiet_gen += 1
                self.end_rule.saw_release("audio after a complete")
            self._events.append(self._on_timeline(utt, event))
        elif isinstance(event, Complete):
            self._complete(utt, event)
        else:
            self._finish(utt, Action.ERROR)
            self._events.append(event)

    def _closed_after_releases(self, utt: _Utterance) -> None:
        """An empty closing fragment after the server completed release(s) of ``utt``
        and sent nothing since: a per-release server may send nothing more at all, so
        the end rule applies now instead of waiting for a ``complete``."""
        rule = self.end_rule
        if not rule.strict and utt.completes >= utt.releases_possible():
            self._finish(utt, Action.COMPLETE)
            self._events.append(Complete(utt.request_id))
            return
        utt.settling = True
        utt.quiet_gen += 1
        self._quiet.append((utt.request_id, utt.quiet_gen, rule.quiet))

    def _complete(self, utt: _Utterance, event: Complete) -> None:
        """Continuations: apply the :class:`EndRule` to a ``complete`` for ``utt``."""
        utt.completes += 1
        utt.quiet_since_complete = True
        rule = self.end_rule
        if utt.state is not _ENDING:
            # §12: one complete per release; this one cannot be the last.
            rule.saw_release("a complete before the closing fragment")
            self._drop(utt.request_id, "complete before end")
            return
        final = rule.reading == "context" or (
            not rule.strict and utt.completes >= utt.releases_possible()
        )
        if final:
            self._finish(utt, Action.COMPLETE)
            self._events.append(event)
            return
        utt.settling = True
        utt.quiet_gen += 1
        self._quiet.append((utt.request_id, utt.quiet_gen, rule.quiet))

    def _on_timeline(self, utt: _Utterance, event: AudioChunk | WordTimestamp) -> Event:
        """Move a release's timestamps onto the utterance's timeline (§12, §9.6).

        A server may restart word times and ids at 0 for each release, giving each its
        own server request id. A new release starts where the audio delivered so far
        ends and after the words counted so far — unless its first word shows that the
        server already counts across releases (times at or past that point), which is
        then left alone.
        """
        srid = event.server_request_id
        rel = utt.releases.get(srid) if srid is not None else None
        if srid is not None and rel is None:
            first = not utt.releases
            rel = _Release(0.0 if first else self._seconds(utt), 0 if first else utt.words)
            rel.checked = first
            utt.releases[srid] = rel
        if isinstance(event, AudioChunk):
            utt.audio_bytes += len(event.audio)
            return event
        if rel is not None:
            if not rel.checked:
                rel.checked = True
                if event.start >= rel.seconds - _CLOCK_SLACK:
                    rel.seconds = 0.0  # already on the utterance's clock
                if event.index >= rel.words:
                    rel.words = 0
            if rel.seconds or rel.words:
                event = replace(
                    event,
                    index=event.index + rel.words,
                    start=event.start + rel.seconds,
                    end=event.end + rel.seconds,
                )
        utt.words = max(utt.words, event.index + 1)
        return event

    def _seconds(self, utt: _Utterance) -> float:
        return utt.audio_bytes / (2 * utt.options.sample_rate)

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


def _count_boundaries(utt: _Utterance, text: str) -> None:
    """Add the release boundaries ``text`` makes to ``utt`` (the text follows what was sent)."""
    if utt.last_char in _BOUNDARY_CHARS and text[:1].isspace() and utt.tail:
        utt.boundaries += 1  # "…word." + " Next": the boundary spans the two fragments
        utt.tail = False
    pos = 0
    for match in _BOUNDARY.finditer(text):
        if text[pos : match.start()].strip() or utt.tail:
            utt.boundaries += 1
        utt.tail = False
        pos = match.end()
    if text[pos:].strip():
        utt.tail = True
    utt.last_char = text[-1:]
