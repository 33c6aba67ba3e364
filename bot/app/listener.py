"""The ports the bot listens on: the webhook listener (callbacks, /healthz, /metrics, the web
gallery) and, with METRICS_PORT, a metrics port of its own.

`python -m bot` opens them before it waits for Discord, so a port in use is found at once and
`/healthz` answers 503 `starting` meanwhile. The web gallery's routes need the application id,
known only after login, so once logged in the webhook app is served again, with them, on the same
port (an aiohttp app cannot gain routes once it runs).
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.ops.startup import port_problem

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
