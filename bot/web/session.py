"""The signed-in browser: what the encrypted cookie holds, and the CSRF token every POST must echo.

The cookie (aiohttp-session's `EncryptedCookieStorage`, Fernet with SECRET_KEY's first key) is the
whole session, so any process of a cluster serves any page. It holds the member's id and name, the
servers Discord listed at sign-in (id → name, only those the bot is in), a CSRF token, and during
sign-in the OAuth2 `state`; never Discord's access token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web
from aiohttp_session import Session, get_session

COOKIE_NAME = "gallery_session"
SESSION_DAYS = 7
MAX_SERVERS = 50
"""Servers remembered in the cookie (browsers cap a cookie near 4 KB)."""


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: int
    name: str
    guilds: dict[int, str]
    csrf: str


async def viewer(request: web.Request) -> Viewer | None:
    """Who is signed in on this browser, or None."""
    session = await get_session(request)
    try:
        return Viewer(
            user_id=int(session["uid"]),
            name=str(session["name"]),
            guilds={int(key): str(value) for key, value in dict(session["guilds"]).items()},
            csrf=str(session["csrf"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def start_session(session: Session, *, user_id: int, name: str, guilds: dict[int, str]) -> None:
    """Replace whatever the browser held with the member who just signed in."""
    session.clear()
    session["uid"] = str(user_id)
    session["name"] = name[:100]
    session["guilds"] = {str(key): value[:100] for key, value in list(guilds.items())[:MAX_SERVERS]}
    session["csrf"] = secrets.token_urlsafe(24)


async def check_csrf(request: web.Request) -> bool:
    """Whether a POST carries this session's CSRF token in its `csrf` form field."""
    form = await request.post()
    sent = form.get("csrf")
    session = await get_session(request)
    expected = session.get("csrf")
    return isinstance(sent, str) and isinstance(expected, str) and hmac.compare_digest(sent, expected)
