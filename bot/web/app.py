"""`add_web_routes`: the gallery's pages on the bot's listener, with their session and headers.

Every page answer carries a Content-Security-Policy without inline scripts (the little JavaScript
there is lives in `static/`), `nosniff`, a same-origin referrer policy and no framing (except the
share player, which other sites embed). Errors on pages are small HTML pages, never a traceback.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import aiohttp_session
import jinja2
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from bot.access.visibility import Visibility
from bot.core.secrets import SecretBox
from bot.core.settings import Settings
from bot.storage.models import DatabaseUnavailable
from bot.storage.repository import Repository
from bot.web.access import GuildLookup, WebAccess
from bot.web.leaderboard import LeaderboardPage
from bot.web.links import WebLinks
from bot.web.oauth import DiscordOAuth
from bot.web.pages import BadRequest, NotFound, WebPages
from bot.web.session import COOKIE_NAME, SESSION_DAYS

log = logging.getLogger(__name__)

# aiohttp-session and aiohttp-jinja2 keep their state under string keys, which aiohttp merely advises against.
for _library in ("aiohttp_session", "aiohttp_jinja2"):
    warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module=_library)

HERE = Path(__file__).parent
PAGE = "web:"
"""Route names of the gallery's pages start with this, so the middleware knows its own."""


def content_security_policy(*, framed: bool, http_media: bool) -> str:
    """Scripts and styles from this site only; images and audio from the API's (https) hosts."""
    media = "'self' https: data:" + (" http:" if http_media else "")
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {media}",
            f"media-src {media}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors *" if framed else "frame-ancestors 'none'",
        )
    )


def page_middleware(*, http_media: bool) -> Callable[..., Awaitable[web.StreamResponse]]:
    framed_policy = content_security_policy(framed=True, http_media=http_media)
    policy = content_security_policy(framed=False, http_media=http_media)

    @web.middleware
    async def pages(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        name = request.match_info.route.name or ""
        if not name.startswith(PAGE):
            return await handler(request)
        try:
            response = await handler(request)
        except NotFound:
            response = _error_page(request, 404, "Not found", "This page does not exist, or you cannot see it.")
        except BadRequest as exc:
            response = _error_page(request, exc.status, "That did not work", exc.message)
        except DatabaseUnavailable:
            response = _error_page(
                request, 503, "Back in a moment", "The bot's database is not answering. Try again soon."
            )
        except web.HTTPException:
            raise
        except Exception:
            log.exception("Web page failed on %s %s", request.method, name)
            response = _error_page(
                request, 500, "Something went wrong", "The page could not be shown. Try again later."
            )
        framed = name == f"{PAGE}player"
        response.headers["Content-Security-Policy"] = framed_policy if framed else policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if not framed:
            response.headers["X-Frame-Options"] = "DENY"
        return response

    return pages


def _error_page(request: web.Request, status: int, title: str, message: str) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "error.html", request, {"title": title, "message": message, "viewer": None}, status=status
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def add_web_routes(
    app: web.Application,
    *,
    settings: Settings,
    repo: Repository,
    client: GuildLookup,
    visibility: Visibility,
    session: aiohttp.ClientSession,
    application_id: int,
    bot_name: str,
    clock: Callable[[], float],
) -> WebPages:
    """Register the pages on the listener's app (before it starts); the web gallery must be on
    (`links.web_off_reason` is None).

    The session cookie is `Secure` when PUBLIC_URL is https; pages may show media from plain-http
    hosts only with ALLOW_PRIVATE_MEDIA_HOSTS (a local API, the tests).
    """
    assert settings.public_url and settings.secret_key and settings.discord_client_secret
    links = WebLinks(settings.public_url)
    oauth = DiscordOAuth(
        session,
        base=settings.discord_oauth_base,
        client_id=application_id,
        client_secret=str(settings.discord_client_secret),
        redirect_uri=f"{settings.public_url}/auth/callback",
    )
    access = WebAccess(client, repo, visibility, clock=clock, all_shards=settings.shard_ids is None)
    pages = WebPages(repo, access, oauth, links, bot_name=bot_name)
    secure = settings.public_url.startswith("https://")
    http_media = settings.allow_private_media_hosts
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    aiohttp_jinja2.get_env(app).globals["bot_name"] = pages.bot_name
    storage = EncryptedCookieStorage(
        SecretBox(settings.secret_key).primary,
        cookie_name=COOKIE_NAME,
        max_age=SESSION_DAYS * 86400,
        httponly=True,
        secure=secure,
        samesite="Lax",
    )
    aiohttp_session.setup(app, storage)
    app.middlewares.append(page_middleware(http_media=http_media))
    routes = app.router
    routes.add_get("/", pages.index, name=f"{PAGE}index")
    routes.add_get("/login", pages.login, name=f"{PAGE}login")
    routes.add_get("/auth/callback", pages.callback, name=f"{PAGE}callback")
    routes.add_post("/logout", pages.logout, name=f"{PAGE}logout")
    routes.add_get("/servers", pages.servers, name=f"{PAGE}servers")
    routes.add_get("/servers/{guild_id}", pages.gallery, name=f"{PAGE}gallery")
    routes.add_get("/servers/{guild_id}/songs/{song_id}", pages.song, name=f"{PAGE}song")
    routes.add_get("/servers/{guild_id}/leaderboard", LeaderboardPage(pages).page, name=f"{PAGE}leaderboard")
    routes.add_get("/s/{token}", pages.share, name=f"{PAGE}share")
    routes.add_get("/s/{token}/player", pages.player, name=f"{PAGE}player")
    routes.add_static("/static", HERE / "static", name=f"{PAGE}static")
    return pages
