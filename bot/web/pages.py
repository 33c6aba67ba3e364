"""The pages: sign-in, the member's servers, a server's gallery, a song page and a public share page.

Handlers are thin: who may see what is `access`, the rows come from the repository's library
queries (the same search and ranking as `/songs`), the tree from `family`, the HTML from the
templates (Jinja2, autoescaped). A server or song the member may not see is `NotFound`, exactly
like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import discord
from aiohttp import web
from aiohttp_session import get_session, new_session

from bot.songs.render import display_title, format_duration, safe_url
from bot.storage.repository import Repository, SongRow
from bot.storage.songs import LibraryOrder
from bot.web.access import WebAccess
from bot.web.family import family_svg, gather_family
from bot.web.links import WebLinks
from bot.web.oauth import DiscordOAuth, SignInFailed
from bot.web.session import Viewer, check_csrf, start_session, viewer

log = logging.getLogger(__name__)

PAGE_SIZE = 24
MAX_PAGE = 500
MAX_QUERY = 100
SORTS: dict[str, LibraryOrder] = {"": "auto", "new": "newest", "top": "top"}
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,64}")
SONG_ID_SHAPE = re.compile(r"[^\s/]{1,80}")


STATE_REFUSED = "That sign-in did not start in this browser, or it was already used. Please sign in again."
NO_CODE = "Discord did not let the sign-in finish. Please try again."
CODE_REFUSED = "Discord did not accept that sign-in (it may have been used already). Please try again."
FORM_EXPIRED = "That form has expired. Please reload the page and try again."


class NotFound(Exception):
    """The one answer for a page that does not exist and a page this browser may not see."""


class BadRequest(Exception):
    """A request the page refuses with a short explanation (a failed sign-in, a POST without CSRF)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def redirect(location: str) -> web.Response:
    """A 303 (after a POST) or plain redirect, returned rather than raised: the listener's error
    middleware turns raised HTTP exceptions into JSON."""
    return web.Response(status=303, headers={"Location": location})


def _int(raw: str | None, *, default: int | None = None) -> int | None:
    if raw is None or not raw.strip().isdigit() or len(raw) > 20:
        return default
    return int(raw)


def _date(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")


def _local_next(raw: str | None) -> str:
    """Where to go after sign-in: a path on this site only (never `//host` or a full URL)."""
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw and len(raw) < 300:
        return raw
    return "/servers"


class WebPages:
    """Every page handler, over the services the bot built."""

    def __init__(
        self, repo: Repository, access: WebAccess, oauth: DiscordOAuth, links: WebLinks, *, bot_name: str = ""
    ) -> None:
        self.repo = repo
        self.access = access
        self.oauth = oauth
        self.links = links
        self.bot_name = bot_name or "Music bot"

    def _render(self, template: str, request: web.Request, who: Viewer | None, **context: Any) -> web.Response:
        response = aiohttp_jinja2.render_template(
            template, request, {"viewer": who, "bot_name": self.bot_name, **context}
        )
        response.headers["Cache-Control"] = "no-store" if who is not None else "no-cache"
        return response

    def song_card(self, song: SongRow, stars: Mapping[str, int], names: Mapping[int, str]) -> dict[str, Any]:
        return {
            "id": song.id,
            "title": display_title(song, 80),
            "untitled": song.title == "Untitled",
            "maker": names.get(song.requester_id, "a member"),
            "maker_id": song.requester_id,
            "length": format_duration(song.duration),
            "stars": stars.get(song.id, 0),
            "image": safe_url(song.image_url),
            "href": f"/servers/{song.guild_id}/songs/{song.id}",
            "date": _date(song.created_at),
        }

    # -- sign-in --------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        return self._render("index.html", request, await viewer(request))

    async def login(self, request: web.Request) -> web.Response:
        session = await new_session(request)
        state = secrets.token_urlsafe(24)
        session["oauth_state"] = state
        session["next"] = _local_next(request.query.get("next"))
        return redirect(self.oauth.authorize_url(state))

    async def callback(self, request: web.Request) -> web.Response:
        session = await get_session(request)
        expected = session.pop("oauth_state", None)
        after = _local_next(session.pop("next", None))
        state = request.query.get("state", "")
        if not isinstance(expected, str) or not hmac.compare_digest(state.encode(), expected.encode()):
            raise BadRequest(STATE_REFUSED)
        code = request.query.get("code", "")
        if not code or len(code) > 200:
            raise BadRequest(NO_CODE)
        try:
            signed_in = await self.oauth.sign_in(code)
        except SignInFailed as exc:
            log.info("Web sign-in refused: %s", exc.reason)
            raise BadRequest(CODE_REFUSED) from None
        guilds = {guild_id: name for guild_id, name in signed_in.guilds.items() if self.access.has_guild(guild_id)}
        start_session(session, user_id=signed_in.user_id, name=signed_in.name, guilds=guilds)
        return redirect(after)

    async def logout(self, request: web.Request) -> web.Response:
        if not await check_csrf(request):
            raise BadRequest(FORM_EXPIRED, status=403)
        session = await get_session(request)
        session.invalidate()
        return redirect("/")

    async def _signed_in(self, request: web.Request) -> Viewer | web.Response:
        who = await viewer(request)
        if who is None:
            return redirect("/login?" + urlencode({"next": request.rel_url.path_qs}))
        return who

    async def servers(self, request: web.Request) -> web.Response:
        who = await self._signed_in(request)
        if isinstance(who, web.Response):
            return who
        shown = []
        for guild_id, name in who.guilds.items():
            member = await self.access.gallery_member(guild_id, who.user_id)
            if member is not None:
                shown.append({"id": guild_id, "name": member.guild.name or name})
        return self._render("servers.html", request, who, servers=shown)

    # -- a server's gallery -------------------------------------------------------------------

    async def _member(self, request: web.Request, who: Viewer) -> discord.Member:
        guild_id = _int(request.match_info["guild_id"])
        member = await self.access.gallery_member(guild_id, who.user_id) if guild_id else None
        if member is None:
            raise NotFound
        return member

    async def gallery(self, request: web.Request) -> web.Response:
        who = await self._signed_in(request)
        if isinstance(who, web.Response):
            return who
        member = await self._member(request, who)
        guild = member.guild
        text = request.query.get("q", "").strip()[:MAX_QUERY]
        sort = request.query.get("sort", "")
        sort = sort if sort in SORTS else ""
        maker = _int(request.query.get("member"))
        page = min(_int(request.query.get("page"), default=1) or 1, MAX_PAGE)
        channels = await self.access.visible_channels(member)
        rows = await self.repo.search_songs(
            guild.id,
            text=text,
            requester_id=maker,
            limit=PAGE_SIZE + 1,
            offset=(page - 1) * PAGE_SIZE,
            order=SORTS[sort],
            channel_ids=channels,
        )
        more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
        stars = await self.repo.star_counts(song.id for song in rows)
        names = await self.access.names(guild.id, [song.requester_id for song in rows])  # no lookups of any id asked
        query = {"q": text, "sort": sort, "member": str(maker) if maker else ""}
        return self._render(
            "gallery.html",
            request,
            who,
            guild={"id": guild.id, "name": guild.name},
            songs=[self.song_card(song, stars, names) for song in rows],
            query=query,
            maker_name=names.get(maker, "this member") if maker else None,
            page=page,
            previous_page=page - 1 if page > 1 else None,
            next_page=page + 1 if more and page < MAX_PAGE else None,
        )

    # -- a song page --------------------------------------------------------------------------

    async def song(self, request: web.Request) -> web.Response:
        who = await self._signed_in(request)
        if isinstance(who, web.Response):
            return who
        member = await self._member(request, who)
        song_id = request.match_info["song_id"]
        song = await self.access.viewable_song(member, song_id) if SONG_ID_SHAPE.fullmatch(song_id) else None
        if song is None:
            raise NotFound
        family = await gather_family(self.repo, song)
        visible = set(await self.access.visible_channels(member))
        names = await self.access.names(
            song.guild_id, [item.requester_id for item in family.songs.values()] + list(song.credits or [])
        )
        stars = await self.repo.star_counts([song.id])
        tree = family_svg(
            family,
            visible=lambda item: item.channel_id in visible,
            names=names,
            href=lambda item: f"/servers/{item.guild_id}/songs/{item.id}",
        )
        may_share = song.requester_id == member.id or member.guild_permissions.manage_guild
        token = await self.repo.share_token(song.id) if may_share else None
        return self._render(
            "song.html",
            request,
            who,
            guild={"id": member.guild.id, "name": member.guild.name},
            **self._song_context(song, names, stars.get(song.id, 0)),
            tree=tree,
            tree_size=family.size,
            share_url=self.links.share_page(token) if token else None,
            discord_url=f"https://discord.com/channels/{song.guild_id}/{song.channel_id}/{song.message_id}"
            if song.message_id
            else None,
        )

    def _song_context(self, song: SongRow, names: Mapping[int, str], stars: int) -> dict[str, Any]:
        lyric = song.lyric.strip()
        return {
            "song": {
                "id": song.id,
                "title": display_title(song, 200),
                "prompt": song.prompt,
                "lyrics": "" if lyric == "[Instrumental]" else lyric,
                "instrumental": lyric == "[Instrumental]",
                "model": song.model or "?",
                "length": format_duration(song.duration),
                "maker": names.get(song.requester_id, "a member"),
                "credits": [names.get(user, "a member") for user in song.credits or []],
                "audio": safe_url(song.audio_url),
                "image": safe_url(song.image_url),
                "action": song.action,
                "date": _date(song.created_at),
                "stars": stars,
            }
        }

    # -- public share pages -------------------------------------------------------------------

    async def _shared(self, request: web.Request) -> tuple[SongRow, str]:
        token = request.match_info["token"]
        song = await self.access.shared_song(token) if TOKEN_SHAPE.fullmatch(token) else None
        if song is None:
            raise NotFound
        return song, token

    async def share(self, request: web.Request) -> web.Response:
        song, token = await self._shared(request)
        names = await self.access.names(song.guild_id, [song.requester_id, *(song.credits or [])])
        stars = await self.repo.star_counts([song.id])
        context = self._song_context(song, names, stars.get(song.id, 0))
        response = self._render(
            "share.html",
            request,
            await viewer(request),
            **context,
            page_url=self.links.share_page(token),
            player_url=self.links.share_page(token) + "/player",
        )
        response.headers["Cache-Control"] = "no-cache"
        return response

    async def player(self, request: web.Request) -> web.Response:
        """The bare player other sites frame (`twitter:player`)."""
        song, _ = await self._shared(request)
        return self._render("player.html", request, None, **self._song_context(song, {}, 0))
