"""The ports the bot listens on: the webhook listener (callbacks, /healthz, /metrics, the web
gallery) and, with METRICS_PORT, a metrics port of its own.

`python -m bot` opens them before it waits for Discord, so a port in use is found at once and
`/healthz` answers 503 `starting` meanwhile. The web gallery's routes need the application id,
known only after login, so once logged in the webhook app is served again, with them, on the same
port (an aiohttp app cannot gain routes once it runs).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
from aiohttp import web

from bot.access.visibility import Visibility
from bot.app.webhook import create_app, create_metrics_app
from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.ops.startup import port_problem
from bot.songs.service import SongService
from bot.storage.repository import Repository
from bot.web.app import add_web_routes
from bot.web.links import web_off_reason

log = logging.getLogger(__name__)


class Listener:
    """Binds apps on WEBHOOK_HOST; a port that cannot be bound is one clear `StartupError`."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.webhook_port: int | None = None
        """The webhook listener's port once bound (the real one when WEBHOOK_PORT=0)."""
        self._webhook: web.AppRunner | None = None
        self._metrics: web.AppRunner | None = None

    @property
    def open(self) -> bool:
        return self._webhook is not None

    async def serve_webhook(self, app: web.Application, port: int) -> None:
        """Serve `app` as the webhook listener, replacing the one served before on that port."""
        if self._webhook is not None:
            port = self.webhook_port or port
            await self._webhook.cleanup()
            self._webhook = None
        self._webhook, self.webhook_port = await self._bind(app, port, "WEBHOOK_PORT")

    async def serve_metrics(self, app: web.Application, port: int) -> int:
        self._metrics, bound = await self._bind(app, port, "METRICS_PORT")
        return bound

    async def _bind(self, app: web.Application, port: int, variable: str) -> tuple[web.AppRunner, int]:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise port_problem(exc, port, variable, self.host) from None
        sockets = runner.addresses
        return runner, (sockets[0][1] if sockets else port)

    async def close(self) -> None:
        for runner in (self._webhook, self._metrics):
            if runner is not None:
                await runner.cleanup()
        self._webhook = self._metrics = None


class Listening:
    """`MusicBot`'s side of the listener: what it serves, opened early and completed after login."""

    settings: Settings
    listener: Listener
    metrics: Metrics
    songs: SongService
    repo: Repository
    visibility: Visibility
    http_session: aiohttp.ClientSession
    application_id: int | None
    user: discord.ClientUser | None
    _accepting_callbacks: bool
    health: Callable[[], Awaitable[tuple[bool, dict[str, object]]]]
    metrics_text: Callable[[], Awaitable[bytes]]

    async def accept_callback(self, secret: str, body: dict[str, Any]) -> str:
        """The listener's sink: `starting` (503) until interrupted deliveries are released."""
        if not self._accepting_callbacks:
            return "starting"
        return await self.songs.accept_callback(secret, body)

    @property
    def webhook_port(self) -> int | None:
        return self.listener.webhook_port

    async def open_listener(self) -> None:
        """Bind the listener (and the metrics port), once: `python -m bot` calls this before it waits
        for Discord, so a port in use is found at once and `/healthz` answers 503 `starting` meanwhile."""
        if self.listener.open:
            return
        settings = self.settings
        await self.listener.serve_webhook(self._webhook_app(), settings.webhook_port)
        mode = "callback mode" if settings.callback_mode else "polling mode (no PUBLIC_URL)"
        log.info("Webhook listener on %s:%s, %s", settings.webhook_host, self.webhook_port, mode)
        if settings.metrics and settings.metrics_port is not None:
            port = await self.listener.serve_metrics(create_metrics_app(self.metrics_text), settings.metrics_port)
            log.info("Metrics on %s:%s/metrics", settings.webhook_host, port)
        elif settings.metrics:
            log.info("Metrics on the webhook listener at /metrics: do not expose it publicly")

    def _webhook_app(self) -> web.Application:
        metrics_here = self.settings.metrics and self.settings.metrics_port is None
        return create_app(
            self,
            self.health,
            metrics_source=self.metrics_text if metrics_here else None,
            count_callback=lambda outcome: self.metrics.labelled(self.metrics.callbacks, outcome).inc(),
        )

    async def _add_web_pages(self) -> None:
        """The web gallery on the same listener, when its three variables are set (after login: its
        routes need the application id)."""
        reason = web_off_reason(self.settings)
        if reason is not None or self.application_id is None:
            log.info("Web gallery off: %s", reason or "the application id is unknown")
            return
        app = self._webhook_app()
        add_web_routes(
            app,
            settings=self.settings,
            repo=self.repo,
            client=self,  # type: ignore[arg-type]  # a MusicBot, a discord.Client
            visibility=self.visibility,
            session=self.http_session,
            application_id=self.application_id,
            bot_name=self.user.name if self.user else "",
            clock=self.songs.now,
        )
        await self.listener.serve_webhook(app, self.settings.webhook_port)
        log.info("Web gallery on at %s", self.settings.public_url)
