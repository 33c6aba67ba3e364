"""A cluster on one machine: several `python -m bot` processes, one PostgreSQL, one load balancer.

`RoundRobinProxy` is the load balancer in front of the processes' webhook listeners, as nginx is in
deploy/compose.yaml: each request goes to the next listener in turn, and to the one after when a
listener cannot be reached (a killed process), as nginx's `proxy_next_upstream error` does. It
records which listener took each callback.

`Cluster` starts the processes (each a `BotProcess` from `crash_helpers`, so the fake Discord's
addresses reach the children the way the crash tests pass them) on shards of `SHARD_COUNT`, with
`PUBLIC_URL` pointing at the proxy in callback mode. A shard entry of None starts that process
without SHARD_IDS and SHARD_COUNT, as a single-process deployment runs (two of them on one database
are a rolling deploy's old and new copy).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.crash_helpers import BotProcess
from tests.harness import free_port


class RoundRobinProxy:
    """HTTP load balancer over `backends` (base URLs), round-robin, skipping unreachable ones."""

    def __init__(self, backends: Sequence[str] = ()) -> None:
        self.backends = list(backends)
        self.url = ""
        self.taken: list[tuple[int, str]] = []
        """(index of the backend that answered, request path), in order."""
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in {"content-type", "content-length"}}
        for _ in range(len(self.backends)):
            index = self._next % len(self.backends)
            self._next += 1
            try:
                async with self._session.request(
                    request.method, self.backends[index] + request.path_qs, data=body, headers=headers
                ) as reply:
                    payload = await reply.read()
                    self.taken.append((index, request.path))
                    return web.Response(body=payload, status=reply.status, content_type=reply.content_type)
            except (aiohttp.ClientConnectionError, TimeoutError):
                continue  # that process is down: the next one takes the request
        return web.Response(status=502, text="no backend")


class Cluster:
    """`len(shard_ids)` bot processes sharing one database, behind one proxy."""

    def __init__(
        self,
        *,
        discord_api: str,
        gateway: str,
        base_env: dict[str, str],
        shard_ids: Sequence[str | None],
        cwd: Path,
        callbacks: bool,
        shard_count: int | None = None,
    ) -> None:
        self.proxy = RoundRobinProxy()
        self.ports = [free_port() for _ in shard_ids]
        self._callbacks = callbacks
        self.processes: list[BotProcess] = []
        for ids, port in zip(shard_ids, self.ports, strict=True):
            env = {**base_env, "WEBHOOK_HOST": "127.0.0.1", "WEBHOOK_PORT": str(port)}
            if ids is not None:
                env["SHARD_COUNT"] = str(shard_count or len(shard_ids))
                env["SHARD_IDS"] = ids
            self.processes.append(BotProcess(discord_api=discord_api, gateway=gateway, env=env, cwd=cwd))
        self.proxy.backends = [f"http://127.0.0.1:{port}" for port in self.ports]

    async def start(self, *, only: Sequence[int] | None = None, **options: Any) -> None:
        """The proxy, then every process at once (as an orchestrator starts them), or those `only` names."""
        if not self.proxy.url:
            await self.proxy.start()
            if self._callbacks:
                for process in self.processes:
                    process._env["PUBLIC_URL"] = self.proxy.url
        chosen = [self.processes[index] for index in only] if only is not None else self.processes
        await asyncio.gather(*(process.start(**options) for process in chosen))

    def listener(self, index: int) -> str:
        """The base URL of process `index`'s own webhook listener (not through the proxy)."""
        return f"http://127.0.0.1:{self.ports[index]}"

    async def stop(self) -> None:
        await asyncio.gather(*(process.stop() for process in self.processes))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.stop()
        await self.proxy.close()

    def process_with_pid(self, pid: int) -> BotProcess:
        return next(p for p in self.processes if p.process is not None and p.process.pid == pid)
