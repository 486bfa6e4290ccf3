"""The sans-I/O Pulse speech-to-text session: audio and control in, frames and events out.

What lives here: :class:`STTProtocol` and its :class:`STTState`. Inputs and outputs
pair as in websockets: :meth:`~STTProtocol.send_audio`, :meth:`~STTProtocol.finalize`,
:meth:`~STTProtocol.end`, :meth:`~STTProtocol.keepalive` then
:meth:`~STTProtocol.data_to_send`; :meth:`~STTProtocol.receive_text` /
:meth:`~STTProtocol.connection_lost` then :meth:`~STTProtocol.events_received`. What
must not: asyncio, sockets, clocks (the session runs the keepalive and ``end`` timers),
frame layout (:mod:`smallest_core.stt_codec`).

The rules it keeps (``docs/stt.md``):

* Audio is re-framed into 50 ms frames (D13; G.711/PCM only — Opus frames pass through
  as given); ``finalize`` and ``end`` send the short tail first, so they cover every
  sample pushed before them.
* ``finalize`` per turn, one ``close_stream`` at the end (D1); after ``end`` only
  ``keepalive`` and receiving are legal; audio or ``finalize`` raise :class:`InvalidState`.
* A final answers our ``finalize`` when it says ``from_finalize``, or — until the server
  has shown it sends that flag — when it is the first final after the ``finalize`` and
  within :data:`FINALIZE_WINDOW_S` of it, when the caller passes its clock (D5).
* Final times never go backwards: a word starting before the previous final's end is
  clamped to it, so the session transcript's times are monotonic.
* Until the server's first transcript or VAD event, every frame handed over is kept
  (up to ``replay_bytes`` of audio): a socket lost before that lost nothing, and
  :meth:`~STTProtocol.reconnected` replays the frames on a new one.
* The session ends on the ``is_last`` final (DONE), on a close after ``close_stream``
  (DONE: the server closes, D22), or on the first error (FAILED; later frames are
  dropped). A retryable failure after the server acknowledged audio becomes
  :class:`TranscriptionLostError`, saying how many seconds finals covered.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from enum import Enum

from .errors import (
    InvalidOptionError,
    InvalidState,
    ProtocolError,
    SmallestError,
    TranscriptionLostError,
)
from .events import ErrorEvent
from .stt_codec import control_frame, parse_stt_frame
from .stt_events import FinalTranscript, STTEvent
from .stt_options import STTOptions
from .stt_wire import STTType

__all__ = ["FINALIZE_WINDOW_S", "FRAME_MS", "STTProtocol", "STTState"]

logger = logging.getLogger("smallest_core")

#: D13: 50-100 ms of audio per frame, sent in real time (LiveKit uses 50 ms).
FRAME_MS = 50
#: D5: how long after our ``finalize`` an unflagged final still counts as its answer.
FINALIZE_WINDOW_S = 2.0
#: The most audio bytes kept for a replay (see :meth:`STTProtocol.can_replay`): 30 s of
#: 16 kHz PCM16; beyond it, a socket lost before the server's first event loses audio.
REPLAY_BYTES = 30 * 16000 * 2
#: Close codes that end a session on purpose (normal, going away).
_CLEAN_CLOSES = ("ws_close_1000", "ws_close_1001")


def _expired(sent: float | None, now: float | None) -> bool:
    return sent is not None and now is not None and now - sent > FINALIZE_WINDOW_S


class STTState(Enum):
    """Where a streaming transcription is in its life."""

    #: Audio, ``finalize`` and ``keepalive`` may be sent.
    OPEN = "open"
    #: ``close_stream`` was sent; waiting for the ``is_last`` final or the server's close.
    ENDING = "ending"
    #: The session ended cleanly; every final has been delivered.
    DONE = "done"
    #: An error ended it (reported once, as an :class:`ErrorEvent`).
    FAILED = "failed"
    #: The caller cancelled it; nothing more is sent or reported.
    CANCELLED = "cancelled"


#: The states a session is still live in (a tuple: membership is an identity test, where
#: a set would hash the members in Python on every check).
_LIVE = (STTState.OPEN, STTState.ENDING)
_OPEN = STTState.OPEN
_FINALIZE = control_frame(STTType.FINALIZE)
_CLOSE = control_frame(STTType.CLOSE_STREAM)
_KEEPALIVE = control_frame(STTType.KEEPALIVE)


class STTProtocol:
    """One Pulse streaming session, without I/O.

    Args:
        options: the session's options (checked for streaming here).
        frame_ms: milliseconds of audio per binary frame (PCM and G.711).
        replay_bytes: the most audio kept for a replay before the server's first event.

    Raises:
        InvalidOptionError: options streaming cannot take (``pulse-pro``, a batch-only
            language), or ``frame_ms`` outside 10..1000.
    """

    def __init__(
        self, options: STTOptions, *, frame_ms: int = FRAME_MS, replay_bytes: int = REPLAY_BYTES
    ) -> None:
        self.options = options.check_streaming()
        if (
            isinstance(frame_ms, bool)
            or not isinstance(frame_ms, int)
            or not 10 <= frame_ms <= 1000
        ):
            raise InvalidOptionError("frame_ms", frame_ms, "10..1000")
        width = options.sample_width
        #: Bytes of one binary frame (PCM and G.711); 0 for Opus (frames pass through).
        self._frame_bytes = options.sample_rate * frame_ms // 1000 * width if width else 0
        #: Audio pushed that does not fill a frame yet.
        self._buffer = bytearray()
        self.state = STTState.OPEN
        self.error: SmallestError | None = None
        self._out: list[str | bytes] = []
        self._out_audio = 0  # bytes of audio in ``_out``
        self._events: list[STTEvent] = []
        #: Audio seconds sent before each ``finalize`` still waiting for its answer.
        self._finalizes: deque[tuple[float, float | None]] = deque()
        self._server_flags_finalize = False
        self._last_end = 0.0
        #: Bytes of audio queued for sending, and handed to the I/O layer.
        self.audio_bytes_queued = 0
        self.audio_bytes_sent = 0
        #: Seconds of audio that delivered finals cover (see :attr:`covered_seconds`).
        self._covered = 0.0
        self.finals = 0
        self.frames_dropped = 0
        #: Every frame handed over, kept until the server shows it is transcribing (its
        #: first transcript or VAD event): until then a lost socket loses nothing, the
        #: log is replayed on a new one. None once acknowledged or over the cap.
        self._replay: list[str | bytes] | None = []
        self._replay_bytes = 0
        self._replay_cap = replay_bytes

    # -- state ---------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """True once DONE, FAILED or CANCELLED: nothing more will be reported."""
        return self.state not in _LIVE

    @property
    def audio_sent(self) -> bool:
        """True once any audio was handed to the I/O layer (a drop now loses audio)."""
        return self.audio_bytes_sent > 0

    @property
    def can_replay(self) -> bool:
        """True while nothing handed over was acknowledged: a new socket can be given the
        same frames (the server's first transcript or VAD event acknowledges them)."""
        return self._replay is not None

    @property
    def audio_seconds(self) -> float | None:
        """Seconds of audio handed to the I/O layer (None for Opus)."""
        return self.options.seconds(self.audio_bytes_sent)

    @property
    def covered_seconds(self) -> float:
        """Seconds of the stream's audio, from its start, that delivered finals cover.

        The audio clock at the last answered ``finalize`` (or all of it after ``is_last``),
        else the last final word's end.
        """
        return max(self._covered, self._last_end)

    @property
    def pending_finalizes(self) -> int:
        """``finalize`` messages sent and not yet answered by a final."""
        return len(self._finalizes)

    def _require_open(self, action: str) -> bool:
        if self.state is STTState.OPEN:
            return True
        if self.state is STTState.FAILED:
            return False  # the failure is already on its way to the caller (a race)
        raise InvalidState(f"cannot {action}: the transcription is {self.state.value}")

    # -- client side ---------------------------------------------------------------------
    def send_audio(self, data: bytes) -> bool:
        """Queue audio in the session's encoding; any size, framed as D13 says.

        The per-chunk hot path (50 calls a second for 20 ms chunks): most chunks only
        fill the next frame, so it answers whether :meth:`data_to_send` has anything.

        Returns:
            :attr:`pending`: True when there are frames to write (a frame filled up, or
            frames queued earlier wait for a socket).

        Raises:
            InvalidState: after :meth:`end` or :meth:`cancel`.
        """
        if self.state is not _OPEN and not self._require_open("send audio"):
            return False
        size = len(data)
        if not size:
            return bool(self._out)
        self.audio_bytes_queued += size
        frame = self._frame_bytes
        if not frame:  # Opus: the caller's frames are the codec's
            self._out.append(bytes(data))
            self._out_audio += size
            return True
        buffer = self._buffer
        buffer += data
        held = len(buffer)
        if held < frame:
            return bool(self._out)
        whole = held - held % frame
        out = self._out
        for start in range(0, whole, frame):
            out.append(bytes(buffer[start : start + frame]))
        del buffer[:whole]
        self._out_audio += whole
        return True

    def _flush_tail(self) -> None:
        if self._frame_bytes:
            width = self.options.sample_width or 1
            tail = bytes(self._buffer)
            self._buffer.clear()
            whole = len(tail) - len(tail) % width
            if whole:
                self._out.append(tail[:whole])
                self._out_audio += whole
            if whole != len(tail):
                # half a sample would shift every later sample; never send it
                logger.warning("dropped %d byte(s): not a whole sample", len(tail) - whole)
                self.audio_bytes_queued -= len(tail) - whole

    def _audio_seconds_queued(self) -> float:
        return self.options.seconds(self.audio_bytes_queued) or 0.0

    def finalize(self, now: float | None = None) -> None:
        """Ask for the buffered speech as a final now (a turn boundary; the session stays).

        Args:
            now: the caller's clock (seconds); with :meth:`receive_text`'s ``now`` it
                bounds how long an unflagged final may still answer this ``finalize``
                (D5: ~2 s, :data:`FINALIZE_WINDOW_S`). None: no bound.

        Raises:
            InvalidState: after :meth:`end` or :meth:`cancel`.
        """
        if not self._require_open("finalize"):
            return
        self._flush_tail()
        self._finalizes.append((self._audio_seconds_queued(), now))
        self._out.append(_FINALIZE)

    def end(self) -> None:
        """Send the audio tail and ``close_stream``: the last finals, then ``is_last``.

        Idempotent while ENDING; ``close_stream`` goes out once (§3).

        Raises:
            InvalidState: after the session finished (DONE or CANCELLED).
        """
        if self.state is STTState.ENDING:
            return
        if not self._require_open("end"):
            return
        self._flush_tail()
        self._out.append(_CLOSE)
        self.state = STTState.ENDING

    def keepalive(self) -> None:
        """Queue a ``keepalive`` (D2: only while no audio flows; the session decides when)."""
        if self.state in (STTState.OPEN, STTState.ENDING):
            self._out.append(_KEEPALIVE)

    def cancel(self) -> None:
        """Stop: nothing more is sent or reported (idempotent)."""
        if not self.finished:
            self.state = STTState.CANCELLED
        self._out.clear()
        self._out_audio = 0
        self._events.clear()

    @property
    def pending(self) -> bool:
        """Whether :meth:`data_to_send` has anything (audio is framed: a short chunk may
        only fill the next frame)."""
        return bool(self._out)

    def data_to_send(self) -> list[str | bytes]:
        """Frames to write, in order: ``bytes`` are audio, ``str`` JSON control messages."""
        out, self._out = self._out, []
        sent, self._out_audio = self._out_audio, 0
        self.audio_bytes_sent += sent
        if self._replay is not None:
            self._replay += out
            self._replay_bytes += sent
            if self._replay_bytes > self._replay_cap:
                self._replay = None  # too much to hold: from now on a drop loses audio
        return out

    def reconnected(self) -> None:
        """A fresh socket replaces one lost before the server acknowledged anything.

        Every frame the lost socket took (but keepalives) is queued again, ahead of those
        not yet sent, so the new socket sees the same session from its first byte: the
        server's audio clock starts at 0 again, as ours does. Pending ``finalize``
        answers stay pending (their ``finalize`` is replayed).

        Raises:
            InvalidState: the server acknowledged audio already (see :attr:`can_replay`),
                or the session was cancelled.
        """
        if self._replay is None:
            raise InvalidState("cannot reconnect: the lost socket had acknowledged audio")
        if self.state is STTState.CANCELLED:
            raise InvalidState("cannot reconnect: the transcription was cancelled")
        replay = [f for f in self._replay if f != _KEEPALIVE]
        self._out = replay + self._out
        self._out_audio += self._replay_bytes
        self.audio_bytes_sent -= self._replay_bytes
        self._replay, self._replay_bytes = [], 0
        self.error = None
        self._events.clear()
        self.state = STTState.ENDING if _CLOSE in self._out else STTState.OPEN

    # -- server side ---------------------------------------------------------------------
    def receive_text(self, text: str, now: float | None = None) -> None:
        """Feed one server text frame; parse failures fail the session (never raise).

        ``now``: the caller's clock, as given to :meth:`finalize` (D5's window).
        """
        if self.finished:
            self.frames_dropped += 1
            return
        try:
            event = parse_stt_frame(text)
        except ProtocolError as exc:
            self._fail(exc)
            return
        if event is None:
            return
        if isinstance(event, ErrorEvent):
            self._fail(event.error)
            return
        self._replay = None  # the server is transcribing what it was sent
        if isinstance(event, FinalTranscript):
            self._final(event, now)
        else:
            self._events.append(event)

    def receive_bytes(self, data: bytes) -> None:
        """A binary frame: Pulse sends none (§3), so it fails the session."""
        if self.finished:
            self.frames_dropped += 1
            return
        self._fail(ProtocolError(f"unexpected binary frame of {len(data)} bytes"))

    def ends_cleanly(self, error: SmallestError) -> bool:
        """True when ``error`` is the server's clean close after our ``close_stream``."""
        return self.state is STTState.ENDING and error.code in _CLEAN_CLOSES

    def connection_lost(self, error: SmallestError) -> None:
        """The socket closed or dropped; ``error`` is what :func:`error_from_close` made of it.

        After ``close_stream`` a clean close ends the session (the server closes, D22).
        Otherwise the session fails: with ``error`` itself while no audio was sent (the
        session may retry), else with :class:`TranscriptionLostError`.
        """
        if self.finished:
            return
        if self.ends_cleanly(error):
            logger.info("= the server closed after close_stream without is_last")
            self._covered = max(self._covered, self._audio_seconds_queued())
            self.state = STTState.DONE
            return
        self._fail(error)

    def events_received(self) -> list[STTEvent]:
        """Events parsed since the last call, in order."""
        events, self._events = self._events, []
        return events

    def _final(self, event: FinalTranscript, now: float | None) -> None:
        changes: dict[str, object] = {}
        if event.from_finalize:
            self._server_flags_finalize = True
            if self._finalizes:
                self._covered = max(self._covered, self._finalizes.popleft()[0])
        elif not self._server_flags_finalize:
            # D5: the first final after our finalize answers it, within the window; a
            # finalize older than that went unanswered (a server that ignores it).
            while self._finalizes and _expired(self._finalizes[0][1], now):
                self._finalizes.popleft()
            if self._finalizes:
                changes["from_finalize"] = True
                self._covered = max(self._covered, self._finalizes.popleft()[0])
        if event.words and event.words[0].start < self._last_end:
            changes["words"] = words = tuple(
                dataclasses.replace(
                    w, start=max(w.start, self._last_end), end=max(w.end, self._last_end)
                )
                for w in event.words
            )
            changes["start"], changes["end"] = words[0].start, words[-1].end
        if changes:
            event = dataclasses.replace(event, **changes)  # type: ignore[arg-type]
        if event.end is not None:
            self._last_end = max(self._last_end, event.end)
        self.finals += 1
        self._events.append(event)
        if event.is_last:
            self._finalizes.clear()
            self._covered = max(self._covered, self._audio_seconds_queued())
            self.state = STTState.DONE

    def _fail(self, error: SmallestError) -> None:
        if (
            self.audio_sent
            and not self.can_replay
            and error.retryable
            and not isinstance(error, TranscriptionLostError)
        ):
            # Audio the server acknowledged is gone with the socket (its transcript too):
            # a retry would need that audio again.
            covered, sent = self.covered_seconds, self.audio_seconds
            shown = "?" if sent is None else f"{sent:.2f}"
            lost = TranscriptionLostError(
                f"the transcription stream was lost after {shown} s of audio; finals "
                f"cover the first {covered:.2f} s ({error})",
                covered_seconds=covered,
                audio_seconds=sent,
                code=error.code,
                retryable=False,
            )
            lost.__cause__ = error
            error = lost
        self.state = STTState.FAILED
        self.error = error
        self._events.append(ErrorEvent(None, error))

    def __repr__(self) -> str:
        return (
            f"STTProtocol(state={self.state.value}, audio_bytes_sent={self.audio_bytes_sent}, "
            f"finals={self.finals})"
        )
