"""Discord's OAuth2 sign-in, faked for the web gallery's tests (`DISCORD_OAUTH_BASE` points here).

`FakeOAuth(discord)` serves, on its own 127.0.0.1 port:
* `GET /oauth2/authorize` — Discord's consent page, already consented: it redirects straight back
  to `redirect_uri?code=…&state=…` as the member in `signed_in_as` (set by the test). The client id
  must be the bot's application id, the scopes `identify guilds`, the response type `code`.
* `POST /api/oauth2/token` — the code exchange (form body, client id and secret, the same redirect
  URI): a code works once (a replay answers 400 `invalid_grant`, as Discord does).
* `GET /api/users/@me`, `GET /api/users/@me/guilds` — with `Authorization: Bearer <token>`: the
  member from `FakeDiscord.users`, and the guilds of `FakeDiscord` they have not left.

Records: `authorizations` (the query of each authorize request), `exchanges` (`(code, status)`),
`api_requests` (`(path, token)`).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.fake_discord import FakeDiscord


class FakeOAuth:
    def __init__(self, discord: FakeDiscord, *, client_secret: str = "fake-client-secret") -> None:
        self.discord = discord
        self.client_secret = client_secret
        self.signed_in_as: int | None = None
        self.authorizations: list[dict[str, str]] = []
        self.exchanges: list[tuple[str, int]] = []
        self.api_requests: list[tuple[str, str]] = []
        self._codes: dict[str, tuple[int, str]] = {}  # code -> (user id, redirect uri)
        self._used: set[str] = set()
        self._tokens: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/oauth2/authorize", self._authorize)
        app.router.add_post("/api/oauth2/token", self._token)
        app.router.add_get("/api/users/@me", self._me)
        app.router.add_get("/api/users/@me/guilds", self._guilds)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOAuth:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @staticmethod
    def _error(status: int, error: str, description: str = "") -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=status)

    async def _authorize(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.authorizations.append(query)
        if query.get("client_id") != str(self.discord.application_id):
            return web.Response(status=400, text="Unknown application")
        if query.get("response_type") != "code" or set(query.get("scope", "").split()) != {"identify", "guilds"}:
            return web.Response(status=400, text="Invalid OAuth2 request")
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")) or self.signed_in_as is None:
            return web.Response(status=400, text="Invalid redirect or nobody signed in to Discord")
        code = secrets.token_urlsafe(16)
        self._codes[code] = (self.signed_in_as, redirect_uri)
        answer = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        return web.Response(status=302, headers={"Location": f"{redirect_uri}?{urlencode(answer)}"})

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        code = str(form.get("code", ""))
        if form.get("client_id") != str(self.discord.application_id) or form.get("client_secret") != self.client_secret:
            self.exchanges.append((code, 401))
            return self._error(401, "invalid_client")
        issued = self._codes.get(code)
        if form.get("grant_type") != "authorization_code" or issued is None or code in self._used:
            self.exchanges.append((code, 400))
            return self._error(400, "invalid_grant", 'Invalid "code" in request.')
        if form.get("redirect_uri") != issued[1]:
            self.exchanges.append((code, 400))
            return self._error(400, "invalid_grant", 'Invalid "redirect_uri" in request.')
        self._used.add(code)
        token = secrets.token_urlsafe(24)
        self._tokens[token] = issued[0]
        self.exchanges.append((code, 200))
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": 604800, "scope": "identify guilds"}
        )

    def _user(self, request: web.Request) -> int | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        self.api_requests.append((request.path, token))
        return self._tokens.get(token)

    async def _me(self, request: web.Request) -> web.Response:
        user_id = self._user(request)
        if user_id is None:
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        return web.json_response(self.discord.users[user_id])

    async def _guilds(self, request: web.Request) -> web.Response:
        user_id = self._user(request)
        if user_id is None:
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        guilds: list[dict[str, Any]] = [
            {"id": str(guild.id), "name": guild.name, "icon": None, "owner": False, "permissions": "0", "features": []}
            for guild in self.discord.guilds.values()
            if self.discord.is_member(guild.id, user_id)
        ]
        return web.json_response(guilds)
