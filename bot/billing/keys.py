"""A server's own Producer API key: checked before it is kept, kept encrypted, used for every
request made for that server, and paused when the API refuses it.

The key is encrypted with `SECRET_KEY` (`bot.core.secrets.SecretBox`, MultiFernet: the first key
encrypts, all decrypt) before it reaches the database, and decrypted only here, into memory, for
`ProducerClient` (`key_for`, the client's `ServerKeys`). It is shown only as `…` and its last four
characters (`hint`), and never logged: log lines name the server, never the key.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from bot.core.errors import InvalidInput
from bot.core.logs import hide_secret
from bot.core.secrets import InvalidToken, SecretBox
from bot.producer.client import ProducerClient, ProducerError, ServerKey
from bot.storage.billing import GuildBilling
from bot.storage.repository import Repository

from . import wording

log = logging.getLogger(__name__)

KEY_SHAPE = re.compile(r"[A-Za-z0-9._~+/=-]{8,200}")
"""What a pasted token may look like: printable, no spaces (the modal strips the ends)."""


def hint(last4: str | None) -> str:
    """How a stored key is shown: `…` and its last four characters."""
    return f"…{last4}" if last4 else "none"


def key_problem(error: ProducerError) -> bool:
    """The key itself is refused (invalid, disabled, out of credit), not just one request."""
    return error.auth_failed or error.code == "used_up"


class KeyStore:
    """Servers' own keys, for `ProducerClient.keys`; managers' saves and clears; refusals."""

    def __init__(
        self, repo: Repository, box: SecretBox | None, api: ProducerClient, *, clock: Callable[[], float]
    ) -> None:
        self._repo = repo
        self._box = box
        self._api = api
        self._clock = clock
        self._plain: dict[str, str] = {}
        """Encrypted form → key, so a request does not decrypt again (a key rotated away drops out)."""
        self._jobs: set[asyncio.Task[None]] = set()
        self.refused: Callable[[int], None] = lambda guild_id: None
        """Called after a refusal opened a pause episode (the bot wakes the outbox with it)."""

    @property
    def available(self) -> bool:
        """Keys can be kept only with a SECRET_KEY."""
        return self._box is not None

    async def key_for(self, guild_id: int) -> ServerKey | None:
        """The server's own key for `ProducerClient`, or None when the bot's token pays.

        A stored key this process cannot open (SECRET_KEY missing, or rotated without it) is sent
        as an empty token: the API refuses it, and the server is paused and its managers told, as
        for any refused key. It never falls back to the bot's token: that would spend the owner's
        credits on a server that chose to pay for itself.
        """
        billing = await self._repo.guild_billing(guild_id)
        if billing.api_key is None:
            return None
        plain = self._plain.get(billing.api_key)
        if plain is None:
            plain = self._open(billing)
        return ServerKey(guild_id, plain, billing.api_key)

    def _open(self, billing: GuildBilling) -> str:
        assert billing.api_key is not None
        if self._box is None:
            log.warning("Server %d has its own API key but SECRET_KEY is not set: it cannot be used", billing.guild_id)
            return ""
        try:
            plain = self._box.decrypt(billing.api_key)
        except InvalidToken:
            log.warning("Server %d's API key was encrypted with a key SECRET_KEY no longer has", billing.guild_id)
            return ""
        hide_secret(plain)
        self._plain[billing.api_key] = plain
        return plain

    async def save(self, guild_id: int, token: str) -> GuildBilling:
        """Check a key with a free call, then keep it encrypted. Raises `InvalidInput` otherwise."""
        token = token.strip()
        hide_secret(token)
        if self._box is None:
            raise InvalidInput(wording.CANNOT_STORE)
        if not KEY_SHAPE.fullmatch(token):
            raise InvalidInput(wording.KEY_MALFORMED)
        try:
            await self._api.check_server_key(token)
        except ProducerError as exc:
            if exc.auth_failed:
                raise InvalidInput(wording.KEY_REFUSED, code=exc.code) from None
            raise InvalidInput(wording.KEY_UNCHECKED, code=exc.code) from None
        encrypted = self._box.encrypt(token)
        self._plain[encrypted] = token
        saved = await self._repo.set_api_key(guild_id, encrypted, token[-4:])
        log.info("Server %d saved its own API key", guild_id)
        return saved

    async def clear(self, guild_id: int) -> GuildBilling:
        cleared = await self._repo.set_api_key(guild_id, None, None)
        log.info("Server %d removed its own API key", guild_id)
        return cleared

    async def rotate_all(self) -> int:
        """Re-encrypt every stored key with the first SECRET_KEY (after a rotation): how many changed.
        Keys no configured key opens are left alone (and refused at use, see `key_for`)."""
        if self._box is None:
            return 0
        changed = 0
        for billing in await self._repo.guilds_with_keys():
            assert billing.api_key is not None
            try:
                rotated = self._box.rotate(billing.api_key)
            except InvalidToken:
                continue
            if rotated != billing.api_key and await self._repo.replace_encrypted_key(
                billing.guild_id, billing.api_key, rotated
            ):
                changed += 1
        return changed

    def observe(self, guild_id: int, error: ProducerError) -> None:
        """A `ServerKeyListener`: a refused key pauses its server (once per episode, any process)."""
        if key_problem(error):
            self._spawn(self._pause(guild_id, error.code))

    async def _pause(self, guild_id: int, code: str) -> None:
        billing = await self._repo.guild_billing(guild_id)
        if billing.api_key is None:
            return
        if await self._repo.key_refused(guild_id, billing.api_key, code, self._clock()):
            log.warning("Server %d's own API key was refused (%s): its songs are paused", guild_id, code)
            self.refused(guild_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        job = asyncio.get_running_loop().create_task(work)
        self._jobs.add(job)
        job.add_done_callback(self._done)

    def _done(self, job: asyncio.Task[None]) -> None:
        self._jobs.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.error("Pausing a server after its key was refused failed", exc_info=job.exception())

    async def close(self) -> None:
        await asyncio.gather(*list(self._jobs), return_exceptions=True)
