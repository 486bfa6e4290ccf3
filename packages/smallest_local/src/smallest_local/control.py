"""Benchmark controls over HTTP, for a server running in another process (off by default).

In-process tests script faults through ``Server.faults`` and read ``Server.stats``
directly. A benchmark that runs the server in its own process (so the server's work
never holds the client's GIL or shares its event loop) reaches the same two things
through these routes, served only when ``ServerConfig.control`` is set
(``smallest-local serve --control``) and, like every route, only with a valid Bearer key:

``POST /_local/faults``
    Add one :class:`~smallest_local.faults.Fault`. The body is a JSON object of its
    fields: ``kind`` (a :class:`~smallest_local.faults.FaultKind` value, e.g.
    ``"close_after_chunks"``) and any of ``times``, ``after_chunks``, ``status``,
    ``retry_after``, ``code``, ``message``, ``seconds``, ``request_id``, ``route``,
    ``path``, ``shape``. Answers ``{"added": kind}``; an unknown kind or field, or a
    value of the wrong type, is a 400 naming it.
``DELETE /_local/faults``
    Forget every pending fault (``FaultPlan.clear``).
``GET /_local/close_log?since=N``
    The injected closes and aborts so far (``ServerStats.close_log``, on while controls
    are), from entry ``N`` on: ``{"entries": [[client_id, what, ns], ...], "next": M}``;
    ``ns`` is ``time.perf_counter_ns()`` just before the close frame was written or the
    TCP connection aborted — CLOCK_MONOTONIC, which other processes on the same Linux
    machine read on the same scale.

The HTTP fault injection of :mod:`~smallest_local.app` never answers these routes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from .faults import Fault, FaultKind
from .state import STATE
from .wire import RequestError, loads_json

__all__ = ["CONTROL_PREFIX", "add_routes"]

#: Every control route starts with this (outside the API's ``/waves/`` paths).
CONTROL_PREFIX = "/_local/"

_FIELDS: dict[str, tuple[type, ...]] = {
    "times": (int, type(None)),
    "after_chunks": (int,),
    "status": (int, type(None)),
    "retry_after": (int, float, type(None)),
    "code": (int, str, type(None)),
    "message": (str, type(None)),
    "seconds": (int, float, type(None)),
    "request_id": (str, type(None)),
    "route": (str, type(None)),
    "path": (str, type(None)),
    "shape": (str, type(None)),
    "between_requests": (bool,),
}
assert set(_FIELDS) | {"kind", "fired"} == {f.name for f in dataclasses.fields(Fault)}


def _fits(value: Any, allowed: tuple[type, ...]) -> bool:
    """JSON's ``true`` is a Python ``int`` too: a flag field takes only booleans, a
    number field no boolean."""
    if isinstance(value, bool):
        return bool in allowed
    return isinstance(value, allowed)


def _bad(message: str) -> web.Response:
    return web.json_response({"error": "InvalidRequest", "message": message}, status=400)


async def _add_fault(request: web.Request) -> web.Response:
    try:
        body: Any = loads_json(await request.text())
    except RequestError as exc:
        return _bad(exc.message)
    if not isinstance(body, dict):
        return _bad("The body must be a JSON object of Fault fields.")
    kinds = ", ".join(k.value for k in FaultKind)
    try:
        kind = FaultKind(body.pop("kind", None))
    except ValueError:
        return _bad(f"'kind' must be one of: {kinds}.")
    for name, value in body.items():
        allowed = _FIELDS.get(name)
        if allowed is None:
            return _bad(f"Unknown Fault field {name!r}; allowed: kind, {', '.join(_FIELDS)}.")
        if not _fits(value, allowed):
            return _bad(f"Invalid {name!r}: {value!r}.")
    request.app[STATE].faults.add(Fault(kind, **body))
    return web.json_response({"added": kind.value})


async def _clear_faults(request: web.Request) -> web.Response:
    request.app[STATE].faults.clear()
    return web.json_response({"cleared": True})


async def _close_log(request: web.Request) -> web.Response:
    raw = request.query.get("since", "0")
    if not (raw.isascii() and raw.isdecimal() and len(raw) <= 9):
        return _bad("'since' must be a non-negative integer.")
    since = int(raw)
    log = request.app[STATE].stats.close_log or []
    entries = [list(entry) for entry in log[since:]]
    return web.json_response({"entries": entries, "next": since + len(entries)})


def add_routes(app: web.Application) -> None:
    """Serve the control routes and turn the close log on (see the module docstring)."""
    state = app[STATE]
    if state.stats.close_log is None:
        state.stats.close_log = []
    app.router.add_post(CONTROL_PREFIX + "faults", _add_fault)
    app.router.add_delete(CONTROL_PREFIX + "faults", _clear_faults)
    app.router.add_get(CONTROL_PREFIX + "close_log", _close_log)
