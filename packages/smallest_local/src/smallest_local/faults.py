"""Scriptable fault injection: what a test asks the server to get wrong, and when.

A test adds :class:`Fault` objects to the server's :class:`FaultPlan`; the server *takes*
a matching fault at one well-defined point and acts on it:

========================  =====================  =========================================
kind                      taken when             effect
========================  =====================  =========================================
``REFUSE_UPGRADE``        a WS upgrade arrives   answer HTTP ``status`` instead of upgrading
``HTTP_STATUS``           an HTTP request        answer ``status`` (+ ``Retry-After``)
``CLOSE_AFTER_CHUNKS``    a synthesis starts     close the WS with ``code`` after N chunks
``ABORT_AFTER_CHUNKS``    a synthesis starts     TCP abort (no close frame) after N chunks
``ERROR_FRAME``           a synthesis starts     error frame instead of audio after N chunks
``MALFORMED_FRAME``       a synthesis starts     a non-JSON text frame after N chunks
``BINARY_FRAME``          a synthesis starts     a binary frame after N chunks
``STALL``                 a synthesis starts     stop sending after N chunks (``seconds`` or
                                                 until the client goes away)
``FREEZE``                a synthesis starts     after N chunks the socket freezes for
                                                 ``seconds``: nothing sent, nothing read, so
                                                 pings go unanswered (a frozen process, one
                                                 socket only; WebSocket route)
``CLOSE_AFTER_COMPLETE``  a WS connection opens  close the socket (1000) after each ``complete``
``IDLE_CLOSE``            a WS connection opens  idle timeout of ``seconds`` on that socket
                                                 (``between_requests``: the clock runs only
                                                 while the socket holds no request)
``CLONE_FAILS``           a clone is created     the clone job ends in ``failed``
========================  =====================  =========================================

Speech-to-text sessions (``/waves/v1/stt/live``, ``/waves/v1/pulse/get_text``) take
the per-synthesis kinds only when scripted with ``route="stt"``, and count *audio frames
received* where TTS counts chunks sent: ``after_chunks=0`` acts as soon as the socket is
open (a drop before any audio), ``after_chunks=3`` once the third binary frame arrived
(a drop after audio). There ``ERROR_FRAME`` sends the error frame in ``shape`` (``"a"``,
``"c"``, ``"d"`` of STT.md §2; default: the dialect's) and closes (1011); ``STALL``
withholds every later event (``seconds``, or for good, ``is_last`` included) while still
reading audio. ``REFUSE_UPGRADE``, ``IDLE_CLOSE`` and ``HTTP_STATUS`` apply to STT as
to TTS.

Each fault fires ``times`` times (``None``: for ever). ``request_id`` limits a
per-synthesis fault to the request whose client id (``request_id`` or ``context_id``)
matches; ``route`` limits it to ``"ws"`` or ``"http"``. The plan is thread-safe: tests
running the server in a background thread call it directly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Fault", "FaultKind", "FaultPlan"]


class FaultKind(StrEnum):
    """What goes wrong (see the module table)."""

    REFUSE_UPGRADE = "refuse_upgrade"
    HTTP_STATUS = "http_status"
    CLOSE_AFTER_CHUNKS = "close_after_chunks"
    ABORT_AFTER_CHUNKS = "abort_after_chunks"
    ERROR_FRAME = "error_frame"
    MALFORMED_FRAME = "malformed_frame"
    BINARY_FRAME = "binary_frame"
    STALL = "stall"
    FREEZE = "freeze"
    CLOSE_AFTER_COMPLETE = "close_after_complete"
    IDLE_CLOSE = "idle_close"
    CLONE_FAILS = "clone_fails"


CONNECTION_KINDS = frozenset(
    {FaultKind.REFUSE_UPGRADE, FaultKind.CLOSE_AFTER_COMPLETE, FaultKind.IDLE_CLOSE}
)
SYNTHESIS_KINDS = frozenset(
    {
        FaultKind.CLOSE_AFTER_CHUNKS,
        FaultKind.ABORT_AFTER_CHUNKS,
        FaultKind.ERROR_FRAME,
        FaultKind.MALFORMED_FRAME,
        FaultKind.BINARY_FRAME,
        FaultKind.STALL,
        FaultKind.FREEZE,
    }
)


@dataclass(eq=False)
class Fault:
    """One scripted failure. Only the fields its kind uses matter.

    Attributes:
        kind: what goes wrong.
        times: how many times it fires; ``None`` = every time.
        after_chunks: per-synthesis faults act once this many chunks were sent.
        status: HTTP status for ``REFUSE_UPGRADE`` / ``HTTP_STATUS``.
        retry_after: seconds for a ``Retry-After`` header (HTTP faults).
        code: WS close code (``CLOSE_AFTER_CHUNKS``) or error-frame ``error.code``.
        message: error-frame / HTTP body message.
        seconds: ``STALL`` duration (``None`` = until the peer leaves), ``IDLE_CLOSE`` timeout.
        request_id: only the synthesis whose client request/context id equals this.
        route: ``"ws"``, ``"http"`` or ``None`` for both.
        path: HTTP faults: only requests whose path starts with this.
        shape: STT ``ERROR_FRAME``: the error frame's shape, ``"a"``, ``"c"`` or ``"d"``.
        between_requests: ``IDLE_CLOSE`` (TTS): time out only a socket with no request
            open, not one still synthesizing (see :meth:`FaultPlan.idle_close`).
    """

    kind: FaultKind
    times: int | None = 1
    after_chunks: int = 0
    status: int | None = None
    retry_after: float | None = None
    code: int | str | None = None
    message: str | None = None
    seconds: float | None = None
    request_id: str | None = None
    route: str | None = None
    path: str | None = None
    shape: str | None = None
    between_requests: bool = False
    fired: int = field(default=0, init=False)


class FaultPlan:
    """The faults a test scripted, taken by the server as it meets matching events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.history: list[tuple[FaultKind, str]] = []

    # -- scripting (called by tests, any thread) ---------------------------------------
    def add(self, fault: Fault) -> Fault:
        """Schedule ``fault``; returns it so a test can read ``fault.fired`` later."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        """Faults that can still fire."""
        with self._lock:
            return list(self._faults)

    def refuse_upgrade(
        self, status: int = 503, *, times: int | None = 1, retry_after: float | None = None
    ) -> Fault:
        """Answer the next WS upgrade(s) with HTTP ``status`` instead of switching protocols."""
        return self.add(
            Fault(FaultKind.REFUSE_UPGRADE, times=times, status=status, retry_after=retry_after)
        )

    def http_error(
        self,
        status: int,
        *,
        retry_after: float | None = None,
        times: int | None = 1,
        path: str | None = None,
        message: str | None = None,
    ) -> Fault:
        """Answer the next HTTP request(s) with ``status`` (401/403/429/500/503...)."""
        return self.add(
            Fault(
                FaultKind.HTTP_STATUS,
                times=times,
                status=status,
                retry_after=retry_after,
                path=path,
                message=message,
            )
        )

    def close_after(
        self,
        chunks: int,
        *,
        code: int = 1011,
        times: int | None = 1,
        request_id: str | None = None,
        route: str | None = None,
    ) -> Fault:
        """Close the WS (code of choice) or end the HTTP body after ``chunks`` chunks."""
        return self.add(
            Fault(
                FaultKind.CLOSE_AFTER_CHUNKS,
                times=times,
                after_chunks=chunks,
                code=code,
                request_id=request_id,
                route=route,
            )
        )

    def abort_after(
        self,
        chunks: int,
        *,
        times: int | None = 1,
        request_id: str | None = None,
        route: str | None = None,
    ) -> Fault:
        """Drop the TCP connection without a close frame after ``chunks`` chunks."""
        return self.add(
            Fault(
                FaultKind.ABORT_AFTER_CHUNKS,
                times=times,
                after_chunks=chunks,
                request_id=request_id,
                route=route,
            )
        )

    def error_frame(
        self,
        message: str = "Synthesis failed",
        *,
        code: str = "INTERNAL_ERROR",
        after_chunks: int = 0,
        times: int | None = 1,
        request_id: str | None = None,
        route: str = "ws",
        shape: str | None = None,
    ) -> Fault:
        """Send an error frame for the synthesis instead of (the rest of) its audio.

        ``route="stt"`` scripts it for an STT session instead (after ``after_chunks``
        audio frames, in ``shape``, then close 1011).
        """
        return self.add(
            Fault(
                FaultKind.ERROR_FRAME,
                times=times,
                after_chunks=after_chunks,
                code=code,
                message=message,
                request_id=request_id,
                route=route,
                shape=shape,
            )
        )

    def malformed_frame(
        self,
        *,
        after_chunks: int = 0,
        times: int | None = 1,
        request_id: str | None = None,
        route: str = "ws",
    ) -> Fault:
        """Send a text frame that is not JSON, then carry on (``route="stt"``: STT)."""
        return self.add(
            Fault(
                FaultKind.MALFORMED_FRAME,
                times=times,
                after_chunks=after_chunks,
                request_id=request_id,
                route=route,
            )
        )

    def binary_frame(
        self, *, after_chunks: int = 0, times: int | None = 1, request_id: str | None = None
    ) -> Fault:
        """Send an (undocumented) binary frame, then carry on."""
        return self.add(
            Fault(
                FaultKind.BINARY_FRAME,
                times=times,
                after_chunks=after_chunks,
                request_id=request_id,
                route="ws",
            )
        )

    def stall(
        self,
        *,
        after_chunks: int = 0,
        seconds: float | None = None,
        times: int | None = 1,
        request_id: str | None = None,
        route: str | None = None,
    ) -> Fault:
        """Stop sending for ``seconds`` (``None``: until the client goes away)."""
        return self.add(
            Fault(
                FaultKind.STALL,
                times=times,
                after_chunks=after_chunks,
                seconds=seconds,
                request_id=request_id,
                route=route,
            )
        )

    def freeze(
        self,
        *,
        after_chunks: int = 0,
        seconds: float = 30.0,
        times: int | None = 1,
        request_id: str | None = None,
    ) -> Fault:
        """Freeze the socket for ``seconds``: send nothing and read nothing (no pongs)."""
        return self.add(
            Fault(
                FaultKind.FREEZE,
                times=times,
                after_chunks=after_chunks,
                seconds=seconds,
                request_id=request_id,
                route="ws",
            )
        )

    def close_after_complete(self, *, times: int | None = None) -> Fault:
        """Make the next connection(s) close (1000) after every ``complete`` (§9.1 reading)."""
        return self.add(Fault(FaultKind.CLOSE_AFTER_COMPLETE, times=times))

    def idle_close(
        self, seconds: float, *, times: int | None = 1, between_requests: bool = False
    ) -> Fault:
        """Give the next connection(s) an idle timeout of ``seconds``.

        As on the real server (§5.1), the clock restarts on every client message only, so
        by default it can strike mid-synthesis: a turn whose audio takes longer than
        ``seconds`` after the client's last message loses its socket, which a client must
        report. ``between_requests=True`` (TTS) lets the clock close only a socket that
        holds no request, for tests about a socket that went idle *between* turns: with a
        short timeout they would otherwise fail whenever the machine pauses mid-turn.
        """
        return self.add(
            Fault(
                FaultKind.IDLE_CLOSE,
                times=times,
                seconds=seconds,
                between_requests=between_requests,
            )
        )

    def clone_fails(self, *, times: int | None = 1, message: str | None = None) -> Fault:
        """Make the next voice clone job(s) end in ``failed``."""
        return self.add(Fault(FaultKind.CLONE_FAILS, times=times, message=message))

    # -- taking (called by the server) -------------------------------------------------
    def take(
        self,
        kinds: frozenset[FaultKind] | set[FaultKind],
        *,
        route: str | None = None,
        request_id: str | None = None,
        path: str | None = None,
        where: str = "",
        limit: int | None = None,
        exact_route: bool = False,
    ) -> list[Fault]:
        """Take every pending fault of ``kinds`` matching the context, counting each firing.

        ``exact_route``: only faults scripted for exactly ``route`` (STT sessions take
        their per-session faults this way, so a TTS fault never fires on them).
        """
        taken: list[Fault] = []
        with self._lock:
            for fault in list(self._faults):
                if fault.kind not in kinds:
                    continue
                if exact_route and fault.route != route:
                    continue
                if fault.route is not None and route is not None and fault.route != route:
                    continue
                if fault.request_id is not None and fault.request_id != request_id:
                    continue
                if fault.path is not None and (path is None or not path.startswith(fault.path)):
                    continue
                fault.fired += 1
                if fault.times is not None and fault.fired >= fault.times:
                    self._faults.remove(fault)
                taken.append(fault)
                self.history.append((fault.kind, where))
                if limit is not None and len(taken) >= limit:
                    break
        return taken

    def take_one(self, kind: FaultKind, **match: str | None) -> Fault | None:
        """Take the first pending fault of ``kind`` matching the context, if any."""
        got = self.take({kind}, limit=1, **match)  # type: ignore[arg-type]
        return got[0] if got else None
