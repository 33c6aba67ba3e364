"""The HTTP listener: Producer callbacks in, health out.

This is the bot's only open door, so it is locked like one:

* **Only the secret picks a task.** Callbacks are unsigned; what authenticates one is the random
  256-bit secret in its path (`/callbacks/<secret>`), made for one task and sent only to the API.
  Nothing in the body (not `task_id`) can choose a task: a `task_id` that disagrees with the task
  the secret belongs to is refused.
* **Timing.** The database keeps only sha256(secret) and the lookup is by that digest. An
  attacker who could time the index search would learn about prefixes of a *digest* they cannot
  steer without a preimage, which says nothing about any secret: this is the standard way to
  store bearer tokens, and it is as good as a constant-time comparison (a direct
  `hmac.compare_digest` on the secret would need the secret stored in the clear). Paths that are
  not shaped like a secret are refused before any lookup, with the same answer as a wrong one.
* **Bodies:** at most `MAX_CALLBACK_BYTES`, a JSON object, sent as JSON (or with no type). Deep
  nesting, bad UTF-8, huge numbers: all a plain 4xx.
* **No side effects unless it is the awaited result:** an unknown secret is a 404; a task that
  already has its result (or ended) answers 200 and changes nothing. So a forged callback can
  never make the bot fetch a URL or post a message; only the awaited result of a real task does.
* **Nothing leaks:** error bodies are fixed strings, never an echo of the input or a traceback.

The handler persists the result and answers at once; delivery runs in the background.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from bot.core.metrics import CONTENT_TYPE
from bot.storage.models import DatabaseUnavailable

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 1024 * 1024
"""A finished song's callback is a few KiB of JSON; a megabyte leaves room for long lyrics."""
SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,128}")
"""What `secrets.token_urlsafe` makes; anything else cannot be a callback secret."""


class CallbackSink(Protocol):
    """What the listener needs from the song service."""

    async def accept_callback(self, secret: str, body: dict[str, Any]) -> str:
        """Store the result for `secret`: `stored`, `duplicate`, `unknown`, `mismatch`, or `starting`
        (nothing stored: the bot is not ready to take results yet)."""
        ...


HealthProbe = Callable[[], Awaitable[tuple[bool, dict[str, object]]]]
"""Healthy or not, and the JSON body to show (with the reason when not)."""
MetricsSource = Callable[[], Awaitable[bytes]]
"""The Prometheus text exposition, freshly collected."""

SINK = web.AppKey("sink", CallbackSink)
HEALTH = web.AppKey("health", object)
METRICS = web.AppKey("metrics", object)
CALLBACK_COUNTER = web.AppKey("callback_counter", object)


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
    except DatabaseUnavailable as exc:
        # Nothing was stored; the poller fetches the result once the database is back.
        log.warning("Webhook request on %s answered 503: %s", _route(request), exc)
        return _error(503, "database unavailable")
    except Exception:
        log.exception("Webhook handler failed on %s", _route(request))
        return _error(500, "internal error")


def _route(request: web.Request) -> str:
    """The method and the route's template, never `request.path`: a callback's path is its secret."""
    route = request.match_info.route.resource
    return f"{request.method} {route.canonical if route else '?'}"


JSON_TYPES = {"application/json", "text/json", "application/octet-stream", ""}
"""Declared JSON, or no declared type (aiohttp reports a missing one as octet-stream)."""


def _is_json_type(content_type: str) -> bool:
    return content_type in JSON_TYPES or (content_type.startswith("application/") and content_type.endswith("+json"))


async def callback(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
        return _error(413, "body too large")
    if not _is_json_type(request.content_type.lower()):
        return _error(415, "body must be JSON")
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _error(400, "body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "body is not a JSON object")
    secret = request.match_info["secret"]
    if not SECRET_SHAPE.fullmatch(secret):
        return _error(404, "unknown callback")
    sink = request.app[SINK]
    outcome = await sink.accept_callback(secret, body)
    count: Callable[[str], None] | None = request.app.get(CALLBACK_COUNTER)  # type: ignore[assignment]
    if count is not None:
        count(outcome)
    if outcome == "starting":  # not stored: the poller asks for it after CALLBACK_GRACE
        return _error(503, "starting")
    if outcome == "unknown":
        return _error(404, "unknown callback")
    if outcome == "mismatch":
        log.warning("Callback names another task id; ignored")
        return _error(409, "task id does not match")
    if outcome == "duplicate":
        log.info("Repeated callback acknowledged and ignored")
    return web.json_response({"ok": True, "duplicate": outcome == "duplicate"})


async def healthz(request: web.Request) -> web.Response:
    """200 while the bot is connected and its database answers; 503 with the reason otherwise."""
    probe: HealthProbe = request.app[HEALTH]  # type: ignore[assignment]
    healthy, body = await probe()
    return web.json_response(body, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    source: MetricsSource = request.app[METRICS]  # type: ignore[assignment]
    return web.Response(body=await source(), headers={"Content-Type": CONTENT_TYPE})


def create_app(
    sink: CallbackSink,
    health: HealthProbe,
    *,
    metrics_source: MetricsSource | None = None,
    count_callback: Callable[[str], None] | None = None,
) -> web.Application:
    """Build the listener's app; the bot runs it in its own event loop. `/metrics` only when given."""
    app = web.Application(client_max_size=MAX_CALLBACK_BYTES, middlewares=[error_middleware])
    app[SINK] = sink
    app[HEALTH] = health
    if count_callback is not None:
        app[CALLBACK_COUNTER] = count_callback
    app.router.add_post("/callbacks/{secret}", callback)
    app.router.add_get("/healthz", healthz)
    if metrics_source is not None:
        add_metrics_route(app, metrics_source)
    return app


def add_metrics_route(app: web.Application, source: MetricsSource) -> None:
    app[METRICS] = source
    app.router.add_get("/metrics", metrics)


def create_metrics_app(source: MetricsSource) -> web.Application:
    """`/metrics` alone, for `METRICS_PORT`: a port that need not be reachable from the internet."""
    app = web.Application(middlewares=[error_middleware])
    add_metrics_route(app, source)
    return app
