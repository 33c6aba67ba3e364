"""Sign-in with Discord: the OAuth2 authorization-code grant, against `DISCORD_OAUTH_BASE`.

The access token is used once, right after the exchange, to learn who signed in and which servers
they are in; it is never stored. What a member may see afterwards comes from the bot's own view of
each guild (`bot.web.access`), so leaving a server or losing a role takes effect at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

log = logging.getLogger(__name__)

SCOPES = "identify guilds"
TIMEOUT = aiohttp.ClientTimeout(total=10)


class SignInFailed(Exception):
    """Discord refused the code (used, expired, forged) or could not be reached; `reason` is for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who signed in, and the servers Discord says they are in (id → name)."""

    user_id: int
    name: str
    guilds: dict[int, str]


class DiscordOAuth:
    """Discord's OAuth2 pages and the two API calls sign-in needs."""

    def __init__(
        self, session: aiohttp.ClientSession, *, base: str, client_id: int, client_secret: str, redirect_uri: str
    ) -> None:
        self._session = session
        self._base = base.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri

    def authorize_url(self, state: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": str(self._client_id),
                "scope": SCOPES,
                "state": state,
                "redirect_uri": self.redirect_uri,
                "prompt": "none",
            }
        )
        return f"{self._base}/oauth2/authorize?{query}"

    async def sign_in(self, code: str) -> SignedIn:
        """Exchange the code, read the member and their servers, and forget the token."""
        token = await self._exchange(code)
        headers = {"Authorization": f"Bearer {token}"}
        user = await self._get("/api/users/@me", headers)
        guilds = await self._get("/api/users/@me/guilds", headers)
        if not isinstance(user, dict) or not isinstance(guilds, list):
            raise SignInFailed("unexpected answer from Discord")
        try:
            name = str(user.get("global_name") or user.get("username") or "member")
            return SignedIn(
                user_id=int(user["id"]),
                name=name,
                guilds={int(guild["id"]): str(guild.get("name") or "") for guild in guilds if isinstance(guild, dict)},
            )
        except (KeyError, TypeError, ValueError):
            raise SignInFailed("unexpected answer from Discord") from None

    async def _exchange(self, code: str) -> str:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": str(self._client_id),
            "client_secret": self._client_secret,
        }
        try:
            async with self._session.post(f"{self._base}/api/oauth2/token", data=form, timeout=TIMEOUT) as response:
                body = await response.json(content_type=None)
                if response.status != 200 or not isinstance(body, dict) or "access_token" not in body:
                    error = body.get("error") if isinstance(body, dict) else None
                    raise SignInFailed(f"code refused ({response.status} {error})")
                return str(body["access_token"])
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SignInFailed(f"token exchange failed ({type(exc).__name__})") from None

    async def _get(self, path: str, headers: dict[str, str]) -> Any:
        try:
            async with self._session.get(f"{self._base}{path}", headers=headers, timeout=TIMEOUT) as response:
                if response.status != 200:
                    raise SignInFailed(f"{path} answered {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SignInFailed(f"{path} failed ({type(exc).__name__})") from None
