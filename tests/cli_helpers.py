"""`python -m bot …` as a real child process, pointed at the fakes the way an owner's machine points at
the real services: PRODUCER_API_BASE for the Producer API and, as in `tests/ops/test_entrypoint.py`,
discord.py's two Discord addresses patched before the entry point runs."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAUNCH = """
import os, runpy, sys, yarl, discord.http, discord.gateway, discord.state
discord.http.Route.BASE = sys.argv[1]
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv[2])
# As in tests/harness.py: the fake sends every GUILD_CREATE at once, so do not wait 2 s for more.
_state_init = discord.state.ConnectionState.__init__
def _quick_ready(self, *args, **options):
    options.setdefault("guild_ready_timeout", 0.05)
    _state_init(self, *args, **options)
discord.state.ConnectionState.__init__ = _quick_ready
if os.environ.get("CRASH_AT"):  # tests/crash_helpers.py: the process kills itself at that step
    from tests.crash_helpers import install_crash_point
    install_crash_point(os.environ["CRASH_AT"])
sys.argv = ["bot", *sys.argv[3:]]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""
"""`python -c LAUNCH DISCORD_API GATEWAY [ARGS…]`: the real entry point, with only discord.py's two
Discord addresses pointed at the fake (and, under CRASH_AT, one crash point installed)."""

OWNER_VARIABLES = ("DISCORD_", "PRODUCER_", "DATABASE_", "PUBLIC_URL", "WEBHOOK_", "METRICS", "LOG_")


def child_env(**variables: str) -> dict[str, str]:
    """This environment without any bot configuration, plus `variables`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(OWNER_VARIABLES)}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **variables}


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


async def run_cli(
    *args: str, cwd: Path, env: dict[str, str], discord_api: str = "http://127.0.0.1:9/api/v10", timeout: float = 60
) -> Finished:
    """Run `python -m bot *args` to the end (without blocking the fakes' event loop)."""
    gateway = discord_api.replace("http", "ws", 1).replace("/api/v10", "/gateway")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LAUNCH,
        discord_api,
        gateway,
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


class Child:
    """A long-running `python -m bot` whose log (stderr) the test reads line by line."""

    def __init__(self, *, cwd: Path, env: dict[str, str], discord_api: str, gateway: str) -> None:
        self._argv = [sys.executable, "-c", LAUNCH, discord_api, gateway]
        self._cwd, self._env = cwd, env
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self._argv, cwd=self._cwd, env=self._env, stderr=asyncio.subprocess.PIPE
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode(errors="replace"))
            self._changed.set()
        self._changed.set()

    async def wait_for(self, text: str, timeout: float = 30) -> str:
        """The first log line containing `text`; fails if the child exits without writing one."""
        async with asyncio.timeout(timeout):
            while True:
                self._changed.clear()
                for line in self.lines:
                    if text in line:
                        return line
                if self._reader is not None and self._reader.done():
                    raise AssertionError(f"the bot exited without logging {text!r}:\n{self.output}")
                await self._changed.wait()

    async def wait_exit(self, timeout: float = 30) -> int:
        assert self.process is not None and self._reader is not None
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await self._reader
        return code

    async def stop(self) -> int:
        """SIGTERM, as `docker stop` sends; returns the exit status."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.terminate()
        return await self.wait_exit()

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.wait_exit()

    @property
    def output(self) -> str:
        return "".join(self.lines)
