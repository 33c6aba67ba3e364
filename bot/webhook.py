"""The HTTP listener: Producer callbacks in, health out.

Callbacks are unsigned, so the only thing that picks a task is the random secret in the path
(`/callbacks/<secret>`), looked up by its hash. The handler persists the result and answers at
once; delivery runs in the background. It never echoes what it received, and its error bodies
are fixed strings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from bot.storage.repository import Task

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 1024 * 1024
"""A finished song's callback is a few KiB of JSON; a megabyte leaves room for long lyrics."""


class CallbackSink(Protocol):
    """What the listener needs from the song service."""

    async def task_for_secret(self, secret: str) -> Task | None: ...

    async def accept_result(self, task_id: int, response: dict) -> bool: ...  # type: ignore[type-arg]


HealthProbe = Callable[[], Awaitable[dict[str, object]]]

SINK = web.AppKey("sink", CallbackSink)
HEALTH = web.AppKey("health", object)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Map every failure to a short fixed JSON body; never a traceback or an echo of the input."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "body too large")
    except web.HTTPException as exc:
        return _error(exc.status, exc.reason or "error")
    except Exception:
        log.exception("Webhook handler failed on %s", request.path)
        return _error(500, "internal error")


async def callback(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
        return _error(413, "body too large")
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return _error(400, "body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "body is not a JSON object")
    sink = request.app[SINK]
    task = await sink.task_for_secret(request.match_info["secret"])
    if task is None:
        return _error(404, "unknown callback")
    claimed = body.get("task_id")
    if task.api_task_id and isinstance(claimed, str) and claimed != task.api_task_id:
        log.warning("Callback for task %d names another task id; ignored", task.id)
        return _error(409, "task id does not match")
    accepted = await sink.accept_result(task.id, body)
    if not accepted:
        log.info("Repeated callback for task %d acknowledged and ignored", task.id)
    return web.json_response({"ok": True, "duplicate": not accepted})


async def healthz(request: web.Request) -> web.Response:
    probe: HealthProbe = request.app[HEALTH]  # type: ignore[assignment]
    return web.json_response(await probe())


def create_app(sink: CallbackSink, health: HealthProbe) -> web.Application:
    """Build the listener's app; the bot runs it in its own event loop."""
    app = web.Application(client_max_size=MAX_CALLBACK_BYTES, middlewares=[error_middleware])
    app[SINK] = sink
    app[HEALTH] = health
    app.router.add_post("/callbacks/{secret}", callback)
    app.router.add_get("/healthz", healthz)
    return app
