"""The aiohttp application: routes, Bearer auth, HTTP fault injection, JSON errors.

Route handlers live next to what they serve: TTS in ``tts_http`` / ``tts_ws``, Pulse STT
in ``stt_ws`` / ``stt_http``, voices,
cloning, dictionaries and legacy routes in ``resources``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import control, resources, stt_http, stt_ws, tts_http, tts_ws
from .faults import FaultKind
from .state import STATE, ServerState

__all__ = ["API_KEY", "create_app", "json_error"]

logger = logging.getLogger("smallest_local")

#: The authenticated key of a request (set by the auth middleware).
API_KEY: web.RequestKey[str] = web.RequestKey("smallest_local_api_key", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(
    status: int, error: str, message: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    """The TTS error body of docs/protocol.md §8: ``{"error": ..., "message": ...}``."""
    return web.Response(
        status=status,
        text=json.dumps({"error": error, "message": message}),
        content_type="application/json",
        headers=headers,
    )


_FAULT_BODIES = {
    401: ("Unauthorized", "Bearer token is missing or invalid."),
    403: ("Forbidden", "This API key is not allowed to use this resource."),
    408: ("RequestTimeout", "The request timed out."),
    429: ("TooManyRequests", "Concurrency limit exceeded. Retry later."),
    500: ("InternalServerError", "An unexpected error occurred."),
    502: ("BadGateway", "Upstream worker failed."),
    503: ("ServiceUnavailable", "No worker available. Retry later."),
}


def fault_response(status: int, retry_after: float | None, message: str | None) -> web.Response:
    """The response a scripted HTTP fault answers with."""
    error, default = _FAULT_BODIES.get(status, ("Error", "Injected failure."))
    headers = {"Retry-After": _fmt_seconds(retry_after)} if retry_after is not None else None
    return json_error(status, error, message or default, headers=headers)


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@web.middleware
async def _auth_and_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    is_upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    if not is_upgrade and not request.path.startswith(control.CONTROL_PREFIX):
        state.stats.http_requests += 1
        fault = state.faults.take_one(
            FaultKind.HTTP_STATUS, route="http", path=request.path, where=request.path
        )
        if fault is not None:
            return fault_response(fault.status or 500, fault.retry_after, fault.message)
    key = _bearer(request)
    if key is None or key not in (*state.config.api_keys, *state.config.forbidden_keys):
        if is_upgrade:
            state.stats.rejected_upgrades += 1
        return json_error(401, "Unauthorized", "Bearer token is missing or invalid.")
    if key in state.config.forbidden_keys:
        if is_upgrade:
            state.stats.rejected_upgrades += 1
        return json_error(403, "Forbidden", "This API key is not allowed to use this resource.")
    request[API_KEY] = key
    return await handler(request)


async def _not_found(request: web.Request) -> web.Response:
    path = request.path if len(request.path) <= 80 else request.path[:80] + "…"
    return json_error(404, "NotFound", f"No route for {request.method[:16]} {path}.")


def create_app(state: ServerState) -> web.Application:
    """Build the application serving every route of docs/protocol.md §3-§8 and §12."""
    app = web.Application(middlewares=[_auth_and_faults], client_max_size=8 * 1024 * 1024)
    app[STATE] = state
    tts_http.add_routes(app)
    tts_ws.add_routes(app)
    resources.add_routes(app)
    stt_ws.add_routes(app)
    stt_http.add_routes(app)
    if state.config.control:
        control.add_routes(app)  # benchmarks: faults and the close log from another process
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app
