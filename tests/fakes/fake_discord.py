"""A small, faithful fake of Discord (REST API + gateway) on 127.0.0.1 for discord.py's real client code.

Payloads follow what discord.py 2.7 parses (see discord/http.py, gateway.py, state.py, interactions.py,
webhook/async_.py) so bot code runs unmodified.  Limits and error bodies mirror Discord's so tests catch the
mistakes that only show up in production (2000-char content, 3 s interaction deadline, upload limits, ...).

Usage::

    fake = FakeDiscord()
    await fake.start()                      # also points discord.py's default gateway URL at the fake
    discord.http.Route.BASE = fake.api_base
    ...
    await fake.close()                      # restores the default gateway URL
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import mimetypes
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import yarl
from aiohttp import WSMsgType, web
from discord.gateway import DiscordWebSocket

from tests.fakes.fake_events import FakeScheduledEvents
from tests.fakes.fake_locales import check_localizations
from tests.fakes.fake_voice import FakeVoice

DISCORD_EPOCH_MS = 1420070400000
API_PREFIX = "/api/v10"
MIB = 1024 * 1024
UPLOAD_LIMITS = {0: 10 * MIB, 1: 10 * MIB, 2: 50 * MIB, 3: 100 * MIB}
MAX_GUILDS_PER_SHARD = 2500
"""Discord closes a session with 4011 (sharding required) past this many guilds."""

# Permission bits (https://discord.com/developers/docs/topics/permissions).
_EVERYONE_PERMS = sum(
    1 << bit for bit in (0, 6, 10, 11, 14, 15, 16, 18, 20, 21, 26, 31, 32, 35, 38)
)  # invite, react, view, send, embed, attach, history, ext. emoji, connect, speak, nick, app cmds,
# request to speak, threads
_BOT_PERMS = _EVERYONE_PERMS | (1 << 13) | (1 << 34)  # + manage messages, manage threads

INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15

_DEFAULT_STATUS_MESSAGES = {
    401: "401: Unauthorized",
    403: "Missing Access",
    404: "404: Not Found",
    500: "500: Internal Server Error",
    502: "502: Bad Gateway",
}


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FakeUpload:
    """A file a fake user attaches to a slash-command attachment option."""

    filename: str
    data: bytes
    content_type: str | None = "audio/mpeg"


@dataclass(eq=False)
class FakeAttachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None
    description: str | None = None
    url: str = ""
    proxy_url: str = ""

    @property
    def size(self) -> int:
        return len(self.data)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.proxy_url,
        }
        if self.content_type is not None:
            payload["content_type"] = self.content_type
        if self.description is not None:
            payload["description"] = self.description
        return payload


@dataclass(eq=False)
class FakeMessage:
    id: int
    channel_id: int
    author_id: int
    content: str = ""
    embeds: list[dict] = field(default_factory=list)
    attachments: list[FakeAttachment] = field(default_factory=list)
    components: list[dict] = field(default_factory=list)
    allowed_mentions: dict | None = None
    message_reference: dict | None = None
    flags: int = 0
    edits: int = 0
    deleted: bool = False
    reactions: list[str] = field(default_factory=list)
    via_interaction: int | None = None
    guild_id: int | None = None
    type: int = 0
    mentions: list[int] = field(default_factory=list)
    created_at: datetime = field(default_factory=_now)
    edited_at: datetime | None = None
    thread_id: int | None = None
    nonce: str | None = None

    @property
    def jump_url(self) -> str:
        return f"https://discord.com/channels/{self.guild_id or '@me'}/{self.channel_id}/{self.id}"

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)


@dataclass(eq=False)
class FakeInteraction:
    id: int
    token: str
    type: int
    data: dict
    user_id: int
    channel_id: int
    guild_id: int | None = None
    responses: list[dict] = field(default_factory=list)  # accepted callback bodies, in order
    modal: dict | None = None
    original: FakeMessage | None = None
    followups: list[FakeMessage] = field(default_factory=list)
    ephemeral: bool = False
    message: FakeMessage | None = None  # the message a clicked component / modal came from
    payload: dict = field(default_factory=dict)  # the INTERACTION_CREATE data as dispatched
    dispatched_at: float = 0.0

    @property
    def responded(self) -> bool:
        return bool(self.responses)


@dataclass(eq=False)
class _Channel:
    id: int
    type: int  # 0 text, 1 DM, 11/12 thread
    name: str = ""
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    owner_id: int | None = None
    recipient_id: int | None = None
    deleted: bool = False
    created_at: datetime = field(default_factory=_now)
    rate_limit: tuple[int, float] | None = None
    sent_at: deque[float] = field(default_factory=deque)
    overwrites: list[dict[str, Any]] = field(default_factory=list)


@dataclass(eq=False)
class _Guild:
    id: int
    name: str
    premium_tier: int
    owner_id: int
    bot_role_id: int
    joined_at: datetime = field(default_factory=_now)
    channel_ids: list[int] = field(default_factory=list)


@dataclass
class _Failure:
    method: str
    path_regex: re.Pattern[str]
    status: int
    code: int
    message: str
    retry_after: float | None
    times: int


@dataclass
class _Body:
    payload: Any
    files: dict[int, tuple[str, bytes]]


class _ApiError(Exception):
    """Raised inside handlers; becomes a Discord-shaped JSON error response."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(body.get("message"))
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, code: int, message: str) -> _ApiError:
    return _ApiError(status, {"message": message, "code": code})


def _form_error(errors: dict[str, Any]) -> _ApiError:
    return _ApiError(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})


def _field_error(field_name: str, code: str, message: str) -> _ApiError:
    return _form_error({field_name: {"_errors": [{"code": code, "message": message}]}})


def _put_error(errors: dict[str, Any], path: tuple[str | int, ...], code: str, message: str) -> None:
    node = errors
    for key in path:
        node = node.setdefault(str(key), {})
    node.setdefault("_errors", []).append({"code": code, "message": message})


def _too_long(errors: dict, path: tuple[str | int, ...], value: Any, limit: int) -> int:
    """Records a BASE_TYPE_MAX_LENGTH error when `value` is longer than `limit`; returns its length."""
    length = len(value) if isinstance(value, str | list) else 0
    if length > limit:
        _put_error(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return length if isinstance(value, str) else 0


def _walk_components(components: list[dict], path: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    for index, comp in enumerate(components):
        here = (*path, index)
        yield here, comp
        yield from _walk_components(comp.get("components") or [], (*here, "components"))
        if isinstance(comp.get("component"), dict):
            yield (*here, "component"), comp["component"]
        if isinstance(comp.get("accessory"), dict):
            yield (*here, "accessory"), comp["accessory"]


def _number_components(components: list[dict]) -> list[dict]:
    """Gives every component a numeric `id` like Discord does when storing messages and modals."""
    taken = {c["id"] for _, c in _walk_components(components) if isinstance(c.get("id"), int)}
    counter = 0
    for _, comp in _walk_components(components):
        if not isinstance(comp.get("id"), int):
            counter += 1
            while counter in taken:
                counter += 1
            comp["id"] = counter
    return components


def _validate_message(payload: dict[str, Any], n_files: int, errors: dict[str, Any]) -> None:
    """Discord's message limits (content, embeds, components, attachments)."""
    _too_long(errors, ("content",), payload.get("content"), 2000)
    embeds = payload.get("embeds") or []
    _too_long(errors, ("embeds",), embeds, 10)
    total = 0
    for i, embed in enumerate(embeds):
        total += _too_long(errors, ("embeds", i, "title"), embed.get("title"), 256)
        total += _too_long(errors, ("embeds", i, "description"), embed.get("description"), 4096)
        total += _too_long(errors, ("embeds", i, "footer", "text"), (embed.get("footer") or {}).get("text"), 2048)
        total += _too_long(errors, ("embeds", i, "author", "name"), (embed.get("author") or {}).get("name"), 256)
        fields = embed.get("fields") or []
        _too_long(errors, ("embeds", i, "fields"), fields, 25)
        for j, fld in enumerate(fields):
            total += _too_long(errors, ("embeds", i, "fields", j, "name"), fld.get("name"), 256)
            total += _too_long(errors, ("embeds", i, "fields", j, "value"), fld.get("value"), 1024)
    if total > 6000:
        _put_error(errors, ("embeds",), "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    components = payload.get("components") or []
    if not int(payload.get("flags") or 0) & FLAG_COMPONENTS_V2:
        _too_long(errors, ("components",), components, 5)
    for path, comp in _walk_components(components, ("components",)):
        _too_long(errors, (*path, "custom_id"), comp.get("custom_id"), 100)
    if n_files > 10 or len(payload.get("attachments") or []) > 10:
        _put_error(errors, ("attachments",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")


class FakeDiscord:
    """Discord's REST API and gateway for one bot application, in memory."""

    def __init__(self, *, token: str = "fake-discord-token") -> None:
        self.token = token
        self._last_id = 0
        self.application_id = self._next_id()
        self.bot_user_id = self.application_id  # modern bot users share the application's id
        self._owner_id = self._next_id()
        self._granted: dict[int, int] = {}
        # Roles, overwrites and the Integrations page (command permissions), per guild.
        self._roles_of_guild: dict[int, list[dict[str, Any]]] = {}
        self._member_roles: dict[tuple[int, int], list[int]] = {}
        self._left: set[tuple[int, int]] = set()  # (guild, user): members who left a guild
        self.command_permissions: dict[int, dict[int, list[dict[str, Any]]]] = {}
        self.users: dict[int, dict[str, Any]] = {self.bot_user_id: self._make_user(self.bot_user_id, "FakeBot", True)}
        self.guilds: dict[int, _Guild] = {}
        self.user_locales: dict[int, str] = {}
        """A member's Discord language (the interaction's `locale`); en-US when not set."""
        self.guild_locales: dict[int, str] = {}
        """A server's preferred locale (Community settings); en-US when not set."""
        self.channels: dict[int, _Channel] = {}
        self.messages: dict[int, list[FakeMessage]] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.commands: list[dict] = []
        self.guild_commands: dict[int, list[dict]] = {}
        self.sync_calls: list[tuple[str, int | None]] = []
        self.requests: list[tuple[str, str]] = []  # (method, path below api_base, no query string)
        self.unhandled: list[tuple[str, str]] = []  # requests that hit the 404 catch-all
        self.identify_count = 0
        self.gateway_refused = False  # while True, new gateway connections get HTTP 503 (an outage)
        self.identifies: list[Identify] = []  # every IDENTIFY, in order, with its shard and time
        # What GET /gateway/bot answers: the recommended shard count and the identify concurrency.
        self.recommended_shards = 1
        self.max_concurrency = 1
        self.rate_limited_count: Counter[int] = Counter()  # channel_id -> 429s from set_channel_rate_limit
        # Discord's `enforce_nonce`: a create repeating a recent nonce (same author and channel) returns the
        # first message instead of posting another. `nonce_replays` counts such answered repeats.
        self.nonce_window: float = 300.0
        self.nonce_replays = 0
        self._nonces: dict[tuple[int, str], tuple[float, FakeMessage]] = {}
        self.interaction_deadline: float | None = 3.0  # seconds to send the initial callback, like Discord
        self.base_url = ""  # http://127.0.0.1:PORT (CDN URLs live here)
        self.api_base = ""
        self.gateway_url = ""
        self._attachments: dict[int, FakeAttachment] = {}
        self._command_ids: dict[tuple, int] = {}
        self._failures: list[_Failure] = []
        self._holds: list[tuple[str, re.Pattern[str], asyncio.Event]] = []
        self.held: list[tuple[str, str]] = []
        """Requests that reached a `hold` and waited there (method, path), in order."""
        self._closed_dms: set[int] = set()
        self._sessions: list[_GatewaySession] = []
        self._changed_event = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cdn_secret = secrets.token_bytes(16)
        self._runner: web.AppRunner | None = None
        self._saved_gateway: yarl.URL | None = None
        self._routes = self._build_routes()
        self.voice = FakeVoice(self)  # voice states, the voice websocket and UDP (tests/fakes/fake_voice.py)
        self.events = FakeScheduledEvents(self)  # guild scheduled events (tests/fakes/fake_events.py)
        self._routes += [(m, re.compile(p + "$"), h, a) for m, p, h, a in self.events.routes()]
        self.member_joined: dict[tuple[int, int], datetime] = {}
        """(guild, user) → when that member joined the server (else when the bot joined it)."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Binds 127.0.0.1 on a random port and points discord.py's default gateway URL here.

        A plain (non-sharded) discord.py Client never calls GET /gateway/bot: it connects to
        DiscordWebSocket.DEFAULT_GATEWAY, so that class attribute is patched until close().
        """
        app = web.Application(client_max_size=512 * MIB)
        app.router.add_get("/gateway", self._gateway_handler)
        app.router.add_get(r"/{kind:(ephemeral-)?attachments}/{scope:\d+}/{aid:\d+}/{filename}", self._cdn)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._api_handler)
        app.router.add_route("*", "/{tail:.*}", self._api_handler)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.api_base = self.base_url + API_PREFIX
        self.gateway_url = f"ws://127.0.0.1:{port}/gateway"
        self._saved_gateway = DiscordWebSocket.DEFAULT_GATEWAY
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        await self.voice.start()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in list(self._sessions):
            await session.ws.close(code=1001)
        await self.voice.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._saved_gateway is not None and str(DiscordWebSocket.DEFAULT_GATEWAY) == self.gateway_url:
            DiscordWebSocket.DEFAULT_GATEWAY = self._saved_gateway

    # ------------------------------------------------------------------ world building

    def _next_id(self) -> int:
        """Snowflakes with real timestamps so discord.py's created_at is sensible; strictly increasing."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(candidate, self._last_id + 1)
        return self._last_id

    def _next_id_on_shard(self, shard_id: int, shard_count: int) -> int:
        """The next snowflake whose guild would live on `shard_id`: (id >> 22) % count == shard_id.

        Only the timestamp part decides the shard, so this moves a few milliseconds ahead."""
        candidate = self._next_id()
        while (candidate >> 22) % shard_count != shard_id:
            candidate = ((candidate >> 22) + 1) << 22
        self._last_id = candidate
        return candidate

    def shard_of(self, guild_id: int | None, shard_count: int) -> int:
        """Where Discord sends a guild's events; DMs (no guild) go to shard 0."""
        return 0 if guild_id is None else (guild_id >> 22) % shard_count

    @staticmethod
    def _make_user(user_id: int, name: str, bot: bool = False) -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": name.lower().replace(" ", "_"),
            "global_name": None if bot else name,
            "discriminator": "0001" if bot else "0",
            "avatar": None,
            "bot": bot,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }

    def add_guild(
        self, name: str = "Test Guild", *, premium_tier: int = 0, shard: tuple[int, int] | None = None
    ) -> int:
        """A guild the bot is in; with `shard=(id, count)` its id puts it on that shard of `count`."""
        guild_id = self._next_id() if shard is None else self._next_id_on_shard(*shard)
        guild = _Guild(guild_id, name, premium_tier, owner_id=self._next_id(), bot_role_id=self._next_id())
        self.guilds[guild.id] = guild
        if self._sessions:  # the bot "joins" a guild while connected
            self._spawn(self._dispatch("GUILD_CREATE", self._guild_payload(guild, full=True)))
        return guild.id

    def add_channel(self, guild_id: int, name: str = "general", *, channel_type: int = 0) -> int:
        """A text channel (or, with `channel_type=2`, a voice channel: see `voice.add_voice_channel`)."""
        guild = self.guilds[guild_id]
        channel = _Channel(self._next_id(), channel_type, name, guild_id, position=len(guild.channel_ids))
        guild.channel_ids.append(channel.id)
        self.channels[channel.id] = channel
        self.messages[channel.id] = []
        if self._sessions:
            self._spawn(self._dispatch("CHANNEL_CREATE", self._channel_payload(channel)))
        return channel.id

    def add_user(self, name: str) -> int:
        user_id = self._next_id()
        self.users[user_id] = self._make_user(user_id, name)
        return user_id

    def new_application(self) -> int:
        """The owner points the bot at another Discord application: a new id, no commands synced yet."""
        self.application_id = self._next_id()
        self.commands, self.guild_commands = [], {}
        return self.application_id

    MANAGE_GUILD = 1 << 5

    def grant(self, user_id: int, permissions: int) -> None:
        """Give a member extra permission bits (e.g. MANAGE_GUILD) in every guild's interactions."""
        self._granted[user_id] = self._granted.get(user_id, 0) | permissions

    def add_role(self, guild_id: int, name: str, *, permissions: int = 0) -> int:
        """A server role (Server Settings → Roles) with these permission bits."""
        role_id = self._next_id()
        self._roles_of_guild.setdefault(guild_id, []).append({"id": role_id, "name": name, "permissions": permissions})
        if self._sessions:
            role = next(r for r in self._roles(self.guilds[guild_id]) if r["id"] == str(role_id))
            self._spawn(self._dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role}))
        return role_id

    def remove_member(self, guild_id: int, user_id: int) -> None:
        """The member leaves the guild (every user is a member of every guild until then)."""
        self._left.add((guild_id, user_id))

    def is_member(self, guild_id: int, user_id: int) -> bool:
        return user_id in self.users and (guild_id, user_id) not in self._left

    def give_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        self._member_roles.setdefault((guild_id, user_id), []).append(role_id)

    def set_overwrite(
        self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0, member: bool = False
    ) -> None:
        """A channel permission overwrite for a role (the guild id is @everyone) or a member."""
        channel = self.channels[channel_id]
        channel.overwrites[:] = [o for o in channel.overwrites if o["id"] != str(target_id)]
        channel.overwrites.append(
            {"id": str(target_id), "type": 1 if member else 0, "allow": str(allow), "deny": str(deny)}
        )
        if self._sessions and channel.guild_id is not None:
            self._spawn(self._dispatch("CHANNEL_UPDATE", self._channel_payload(channel)))

    def add_thread(self, channel_id: int, name: str, *, private: bool = False, owner_id: int | None = None) -> int:
        """A thread under `channel_id` (type 12 when private), announced to the bot like Discord does."""
        parent = self.channels[channel_id]
        thread = _Channel(
            self._next_id(), 12 if private else 11, name, parent.guild_id, parent_id=channel_id, owner_id=owner_id
        )
        self.channels[thread.id] = thread
        self.messages[thread.id] = []
        if parent.guild_id is not None:
            self.guilds[parent.guild_id].channel_ids.append(thread.id)
        if self._sessions:
            self._spawn(self._dispatch("THREAD_CREATE", {**self._channel_payload(thread), "newly_created": True}))
        return thread.id

    def set_command_permissions(
        self, guild_id: int, command_name: str | None, overrides: list[tuple[int, int, bool]]
    ) -> None:
        """Server Settings → Integrations: `overrides` of (id, type 1 role / 2 user / 3 channel, allowed)
        for one command, or for the whole app when `command_name` is None. The guild id is @everyone
        (type 1) and guild id − 1 is "all channels" (type 3)."""
        if command_name is None:
            target = self.application_id
        else:
            target = int(self._find_command(command_name, 1, guild_id)["id"])
        entry = [{"id": str(i), "type": t, "permission": allowed} for i, t, allowed in overrides]
        self.command_permissions.setdefault(guild_id, {})[target] = entry
        if self._sessions:
            payload = self._command_permissions_payload(guild_id, target)
            self._spawn(self._dispatch("APPLICATION_COMMAND_PERMISSIONS_UPDATE", payload))

    def _command_permissions_payload(self, guild_id: int, target: int) -> dict[str, Any]:
        return {
            "id": str(target),
            "application_id": str(self.application_id),
            "guild_id": str(guild_id),
            "permissions": self.command_permissions.get(guild_id, {}).get(target, []),
        }

    def permissions_in(self, channel_id: int, user_id: int) -> int:
        """A member's permissions in a channel as Discord computes them: @everyone, their roles, then
        the channel's overwrites (@everyone, roles, the member); a thread takes its parent's."""
        channel = self.channels[channel_id]
        guild = self._guild_of(channel)
        if guild is None:
            return _EVERYONE_PERMS
        if user_id == guild.owner_id:
            return (1 << 41) - 1
        roles = self._member_roles.get((guild.id, user_id), [])
        perms = _EVERYONE_PERMS | self._granted.get(user_id, 0)
        for role in self._roles_of_guild.get(guild.id, []):
            if role["id"] in roles:
                perms |= role["permissions"]
        if perms & 8:  # administrator
            return (1 << 41) - 1
        target = self.channels[channel.parent_id] if channel.type in (11, 12) and channel.parent_id else channel
        overwrites = {int(o["id"]): o for o in target.overwrites}
        if (everyone := overwrites.get(guild.id)) is not None:
            perms = (perms & ~int(everyone["deny"])) | int(everyone["allow"])
        allow = deny = 0
        for role_id in roles:
            if (overwrite := overwrites.get(role_id)) is not None:
                allow |= int(overwrite["allow"])
                deny |= int(overwrite["deny"])
        perms = (perms & ~deny) | allow
        if (own := overwrites.get(user_id)) is not None and own["type"] == 1:
            perms = (perms & ~int(own["deny"])) | int(own["allow"])
        return perms

    def command_allowed(self, command: dict[str, Any], guild_id: int, channel_id: int, user_id: int) -> bool:
        """Whether Discord lets this member use `command` in this channel (Integrations overrides).

        Command-level overrides replace the app-level ones per kind (members vs channels). Members:
        the user's own entry, else any of their roles (allowed if one allows), else @everyone;
        administrators pass. Channels: the channel (a thread's parent), else "all channels".
        """
        overrides = self.command_permissions.get(guild_id, {})
        own = overrides.get(int(command["id"]), [])
        app = overrides.get(self.application_id, [])
        people = own if any(e["type"] in (1, 2) for e in own) else app
        places = own if any(e["type"] == 3 for e in own) else app

        def find(entries: list[dict[str, Any]], wanted: int, kind: int) -> bool | None:
            return next((bool(e["permission"]) for e in entries if int(e["id"]) == wanted and e["type"] == kind), None)

        by_user = True if self.permissions_in(channel_id, user_id) & 8 else find(people, user_id, 2)
        if by_user is None:
            roles = self._member_roles.get((guild_id, user_id), [])
            hits = [bool(e["permission"]) for e in people if e["type"] == 1 and int(e["id"]) in roles]
            by_user = any(hits) if hits else find(people, guild_id, 1)
        channel = self.channels[channel_id]
        where = channel.parent_id if channel.type in (11, 12) and channel.parent_id else channel_id
        by_channel = find(places, where, 3)
        if by_channel is None:
            by_channel = find(places, guild_id - 1, 3)
        return by_user is not False and by_channel is not False

    @property
    def owner_id(self) -> int:
        """The application's owner (from /oauth2/applications/@me); usable as a member once added."""
        if self._owner_id not in self.users:
            self.users[self._owner_id] = self._make_user(self._owner_id, "App Owner")
        return self._owner_id

    def deny_bot(self, channel_id: int, permissions: int) -> None:
        """A channel overwrite denying the bot's role `permissions` (e.g. CONNECT in a voice channel)."""
        channel = self.channels[channel_id]
        guild = self.guilds[channel.guild_id or 0]
        channel.overwrites.append({"id": str(guild.bot_role_id), "type": 0, "allow": "0", "deny": str(permissions)})
        self._spawn(self._dispatch("CHANNEL_UPDATE", self._channel_payload(channel)))

    def allow_bot(self, channel_id: int, permissions: int) -> None:
        """A channel overwrite allowing the bot's role `permissions` (e.g. MUTE_MEMBERS on a stage)."""
        channel = self.channels[channel_id]
        guild = self.guilds[channel.guild_id or 0]
        channel.overwrites.append({"id": str(guild.bot_role_id), "type": 0, "allow": str(permissions), "deny": "0"})
        self._spawn(self._dispatch("CHANNEL_UPDATE", self._channel_payload(channel)))

    def bot_can(self, channel_id: int, permissions: int) -> bool:
        """Whether the bot's role has `permissions` in the channel (role bits minus this channel's
        denials, plus what its own role is allowed there)."""
        channel = self.channels[channel_id]
        guild = self.guilds[channel.guild_id or 0] if channel.guild_id else None
        denied = sum(int(o["deny"]) for o in channel.overwrites if o["type"] == 0)
        allowed = sum(
            int(o["allow"]) for o in channel.overwrites if guild is not None and o["id"] == str(guild.bot_role_id)
        )
        return (((_BOT_PERMS & ~denied) | allowed) & permissions) == permissions

    def dm_channel_id(self, user_id: int) -> int:
        """The DM channel between the bot and `user_id` (created on first use, like Discord)."""
        for channel in self.channels.values():
            if channel.type == 1 and channel.recipient_id == user_id:
                return channel.id
        channel = _Channel(self._next_id(), 1, recipient_id=user_id)
        self.channels[channel.id] = channel
        self.messages[channel.id] = []
        return channel.id

    def delete_channel(self, channel_id: int) -> None:
        channel = self.channels[channel_id]
        channel.deleted = True
        if channel.guild_id is not None:
            self._spawn(self._dispatch("CHANNEL_DELETE", self._channel_payload(channel)))
        self._changed()

    def close_dms(self, user_id: int) -> None:
        self._closed_dms.add(user_id)

    async def drop_connections(self, code: int = 4000) -> None:
        """Closes every gateway connection from Discord's side; discord.py tries RESUME (refused with
        INVALID_SESSION) and then IDENTIFYs again, as after a real outage."""
        for session in list(self._sessions):
            await session.ws.close(code=code)

    def fail_next(
        self,
        method: str,
        path_regex: str,
        *,
        status: int,
        code: int = 0,
        message: str = "",
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests whose method matches and whose path (below api_base) re.search-es
        `path_regex` get this error instead of being handled."""
        self._failures.append(
            _Failure(method.upper(), re.compile(path_regex), status, code, message, retry_after, times)
        )

    def hold(self, method: str, path_regex: str) -> asyncio.Event:
        """Requests matching `method` and `path_regex` wait (Discord slow to answer) until the event is set."""
        gate = asyncio.Event()
        self._holds.append((method.upper(), re.compile(path_regex), gate))
        return gate

    def stop_holding(self, gate: asyncio.Event) -> None:
        """New requests pass again; those already waiting on `gate` keep waiting (a client that went
        away while Discord was slow never gets its answer)."""
        self._holds = [hold for hold in self._holds if hold[2] is not gate]

    def set_channel_rate_limit(self, channel_id: int, *, limit: int, window: float) -> None:
        self.channels[channel_id].rate_limit = (limit, window)

    # ------------------------------------------------------------------ waiting

    def _changed(self) -> None:
        """Wakes every waiter; called on every state change."""
        self._changed_event.set()
        self._changed_event = asyncio.Event()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop (called from sync setup code): nobody is connected anyway
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed_event
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"FakeDiscord: condition not met within {timeout}s.\n{self.dump()}")
            # Woken by every fake state change; the short poll also catches bot-side state in predicates.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, 0.05))

    async def wait_for_message(
        self,
        channel_id: int,
        predicate: Callable[[FakeMessage], bool] | None = None,
        timeout: float = 10,
    ) -> FakeMessage:
        """First non-deleted message in the channel (already there or arriving) matching `predicate`."""

        def find() -> FakeMessage | None:
            for msg in self.messages.get(channel_id, []):
                if not msg.deleted and (predicate is None or predicate(msg)):
                    return msg
            return None

        return await self.wait_for(find, timeout)

    async def wait_until_ready(self, timeout: float = 10) -> None:
        await self.wait_for(lambda: any(s.ready for s in self._sessions), timeout)

    def ready_shards(self) -> set[int | None]:
        """Shard ids with a live, identified session (None for an unsharded one)."""
        return {s.shard[0] if s.shard else None for s in self._sessions if s.ready}

    def dump(self) -> str:
        """Human-readable state for timeout messages."""
        lines = ["Messages:"]
        for channel_id, msgs in self.messages.items():
            channel = self.channels.get(channel_id)
            lines.append(f"  channel {channel_id} ({channel.name if channel else '?'}): {len(msgs)} message(s)")
            for m in msgs:
                extra = [f"embeds={[e.get('title') for e in m.embeds]}"] if m.embeds else []
                extra += [f"files={[a.filename for a in m.attachments]}"] if m.attachments else []
                extra += [f"flags={m.flags}"] if m.flags else []
                extra += ["DELETED"] if m.deleted else []
                lines.append(f"    [{m.id}] author={m.author_id} {m.content[:100]!r} {' '.join(extra)}")
        lines.append("Interactions:")
        for i in self.interactions.values():
            types = [r.get("type") for r in i.responses]
            lines.append(
                f"  [{i.id}] type={i.type} name={i.data.get('name') or i.data.get('custom_id')} "
                f"callbacks={types} modal={bool(i.modal)} followups={len(i.followups)}"
            )
        lines.append(f"Last requests: {self.requests[-15:]}")
        if self.unhandled:
            lines.append(f"UNHANDLED requests (404 catch-all): {self.unhandled}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ payload builders

    def _guild_of(self, channel: _Channel) -> _Guild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id else None

    def _upload_limit(self, channel: _Channel) -> int:
        guild = self._guild_of(channel)
        return UPLOAD_LIMITS.get(guild.premium_tier, 10 * MIB) if guild else 10 * MIB

    def _member_payload(self, guild: _Guild, user_id: int, *, with_user: bool = True) -> dict[str, Any]:
        is_bot = user_id == self.bot_user_id
        payload: dict[str, Any] = {
            "roles": [str(guild.bot_role_id)]
            if is_bot
            else [str(role) for role in self._member_roles.get((guild.id, user_id), [])],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": _iso(self.member_joined.get((guild.id, user_id), guild.joined_at)),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self.users[user_id]
        return payload

    def _roles(self, guild: _Guild) -> list[dict[str, Any]]:
        base = {
            "color": 0,
            "colors": {"primary_color": 0},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "mentionable": False,
            "flags": 0,
            "managed": False,
        }
        everyone = {
            **base,
            "id": str(guild.id),
            "name": "@everyone",
            "position": 0,
            "permissions": str(_EVERYONE_PERMS),
        }
        bot_role = {
            **base,
            "id": str(guild.bot_role_id),
            "name": "FakeBot",
            "position": 1,
            "permissions": str(_BOT_PERMS),
            "managed": True,
            "tags": {"bot_id": str(self.bot_user_id)},
        }
        extra = [
            {
                **base,
                "id": str(role["id"]),
                "name": role["name"],
                "position": 2 + n,
                "permissions": str(role["permissions"]),
            }
            for n, role in enumerate(self._roles_of_guild.get(guild.id, []))
        ]
        return [everyone, bot_role, *extra]

    def _last_message_id(self, channel: _Channel) -> str | None:
        msgs = self.messages.get(channel.id)
        return str(msgs[-1].id) if msgs else None

    def _channel_payload(self, channel: _Channel) -> dict[str, Any]:
        if channel.type == 1:
            return {
                "id": str(channel.id),
                "type": 1,
                "flags": 0,
                "last_message_id": self._last_message_id(channel),
                "recipients": [self.users[channel.recipient_id or 0]],
            }
        payload: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "last_message_id": self._last_message_id(channel),
            "rate_limit_per_user": 0,
            "flags": 0,
            "nsfw": False,
        }
        if channel.type in (11, 12):
            count = len(self.messages.get(channel.id, []))
            payload.update(
                owner_id=str(channel.owner_id),
                message_count=count,
                total_message_sent=count,
                member_count=1,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "locked": False,
                    "archive_timestamp": _iso(channel.created_at),
                    "create_timestamp": _iso(channel.created_at),
                },
            )
        else:
            payload.update(
                position=channel.position,
                permission_overwrites=channel.overwrites,
                topic=None,
                default_auto_archive_duration=1440,
            )
            if channel.type in (2, 13):  # voice and stage channels
                payload.update(bitrate=64000, user_limit=0, rtc_region=None, video_quality_mode=1)
        return payload

    def _guild_payload(self, guild: _Guild, *, full: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": self._roles(guild),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": str(guild.channel_ids[0]) if guild.channel_ids else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": guild.premium_tier,
            "premium_subscription_count": 0,
            "preferred_locale": self.guild_locales.get(guild.id, "en-US"),
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "incidents_data": None,
        }
        if full:
            channels = [self.channels[c] for c in guild.channel_ids if not self.channels[c].deleted]
            payload.update(
                joined_at=_iso(guild.joined_at),
                large=False,
                unavailable=False,
                lazy=True,
                member_count=1 + sum(1 for u in self.users if u != self.bot_user_id),
                members=[self._member_payload(guild, self.bot_user_id)],
                voice_states=self.voice.guild_voice_states(guild.id),
                presences=[],
                channels=[self._channel_payload(c) for c in channels if c.type not in (11, 12)],
                threads=[self._channel_payload(c) for c in channels if c.type in (11, 12)],
                stage_instances=[],
                guild_scheduled_events=[],
                soundboard_sounds=[],
                embedded_activities=[],
                application_command_counts={},
                hub_type=None,
            )
        return payload

    def _sign(self, path: str) -> str:
        issued = int(time.time())
        expires = issued + 86400
        digest = hmac.new(self._cdn_secret, f"{path}:{expires:x}:{issued:x}".encode(), hashlib.sha256).hexdigest()
        return f"{self.base_url}{path}?ex={expires:x}&is={issued:x}&hm={digest}&"

    def _store_attachment(
        self,
        scope: int,
        filename: str,
        data: bytes,
        content_type: str | None,
        *,
        ephemeral: bool = False,
        description: str | None = None,
    ) -> FakeAttachment:
        att = FakeAttachment(self._next_id(), filename, data, content_type, description)
        kind = "ephemeral-attachments" if ephemeral else "attachments"
        path = f"/{kind}/{scope}/{att.id}/{quote(filename)}"
        att.url = att.proxy_url = self._sign(path)
        self._attachments[att.id] = att
        return att

    def _message_payload(self, msg: FakeMessage, *, nested: bool = False) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            "author": self.users[msg.author_id],
            "content": msg.content,
            "timestamp": _iso(msg.created_at),
            "edited_timestamp": _iso(msg.edited_at) if msg.edited_at else None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [self.users[u] for u in msg.mentions if u in self.users],
            "mention_roles": [],
            "attachments": [a.to_payload() for a in msg.attachments],
            "embeds": msg.embeds,
            "components": msg.components,
            "pinned": False,
            "type": msg.type,
            "flags": msg.flags,
        }
        if msg.guild_id is not None:
            payload["guild_id"] = str(msg.guild_id)
        if msg.nonce is not None:
            payload["nonce"] = msg.nonce
        counts = Counter(msg.reactions)
        if counts:
            payload["reactions"] = [
                {
                    "emoji": self._emoji(e),
                    "count": n,
                    "count_details": {"burst": 0, "normal": n},
                    "me": True,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for e, n in counts.items()
            ]
        if msg.message_reference is not None:
            payload["message_reference"] = {"type": 0, **msg.message_reference}
            if not nested:
                ref = self._find_message(int(msg.message_reference["message_id"]))
                payload["referenced_message"] = self._message_payload(ref, nested=True) if ref else None
        if msg.thread_id and msg.thread_id in self.channels:
            payload["thread"] = self._channel_payload(self.channels[msg.thread_id])
        inter = self.interactions.get(msg.via_interaction or 0)
        if inter is not None:
            payload["webhook_id"] = str(self.application_id)
            payload["application_id"] = str(self.application_id)
            meta: dict[str, Any] = {
                "id": str(inter.id),
                "type": inter.type,
                "user": self.users[inter.user_id],
                "authorizing_integration_owners": inter.payload["authorizing_integration_owners"],
            }
            if inter.type == 2:
                meta.update(name=inter.data["name"], command_type=inter.data.get("type", 1))
                payload["interaction"] = {
                    "id": str(inter.id),
                    "type": 2,
                    "name": inter.data["name"],
                    "user": self.users[inter.user_id],
                }
            if inter.original is not None and inter.original is not msg:
                meta["original_response_message_id"] = str(inter.original.id)
            if inter.message is not None:
                meta["interacted_message_id"] = str(inter.message.id)
            payload["interaction_metadata"] = meta
        return payload

    @staticmethod
    def _emoji(text: str) -> dict[str, Any]:
        name, _, emoji_id = text.partition(":")
        return {"id": emoji_id or None, "name": name}

    def _find_message(self, message_id: int) -> FakeMessage | None:
        for msgs in self.messages.values():
            for msg in msgs:
                if msg.id == message_id and not msg.deleted:
                    return msg
        return None

    # ------------------------------------------------------------------ gateway

    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        if self.gateway_refused:
            return web.Response(status=503, text="gateway unavailable")
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        session = _GatewaySession(ws)
        self._sessions.append(session)
        try:
            await session.send(10, {"heartbeat_interval": 41250, "_trace": ['["fake-gateway"]']})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_message(session, json.loads(msg.data))
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self._sessions.remove(session)
            self._changed()
        return ws

    async def _on_gateway_message(self, session: _GatewaySession, msg: dict[str, Any]) -> None:
        op, data = msg.get("op"), msg.get("d")
        if op == 1:
            await session.send(11, None)
        elif op == 2:
            if session.identified:
                await session.ws.close(code=4005, message=b"Already authenticated.")
            elif data.get("token") != self.token:
                await session.ws.close(code=4004, message=b"Authentication failed.")
            else:
                await self._identify(session, data)
        elif op == 4 and session.identified:
            await self.voice.on_voice_state_request(session, data)
        elif op == 6:
            await session.send(9, False)  # sessions are never resumable here; discord.py re-IDENTIFYs
        elif op == 8 and session.identified:
            guild = self.guilds.get(int(data["guild_id"]))
            if guild is not None:
                members = [self._member_payload(guild, u) for u in self.users]
                await session.dispatch(
                    "GUILD_MEMBERS_CHUNK",
                    {
                        "guild_id": str(guild.id),
                        "members": members,
                        "chunk_index": 0,
                        "chunk_count": 1,
                        "not_found": [],
                        "nonce": data.get("nonce"),
                    },
                )

    async def _identify(self, session: _GatewaySession, data: dict[str, Any]) -> None:
        shard = data.get("shard")
        if shard is not None:
            shard_id, shard_count = int(shard[0]), int(shard[1])
            if not 0 <= shard_id < shard_count:
                await session.ws.close(code=4010, message=b"Invalid shard.")
                return
            session.shard = (shard_id, shard_count)
        if sum(1 for g in self.guilds if session.owns(g)) > MAX_GUILDS_PER_SHARD:
            await session.ws.close(code=4011, message=b"Sharding required.")
            return
        self.identify_count += 1
        session.identified = True
        session.intents = int(data.get("intents", 0))
        session.session_id = secrets.token_hex(16)
        self.identifies.append(Identify(time.time(), session.shard, session.session_id))
        user = {**self.users[self.bot_user_id], "verified": True, "mfa_enabled": False, "email": None}
        await session.dispatch(
            "READY",
            {
                "v": 10,
                "user": user,
                "user_settings": {},
                "session_type": "normal",
                "session_id": session.session_id,
                "resume_gateway_url": self.gateway_url,
                "relationships": [],
                "private_channels": [],
                "presences": [],
                "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds if session.owns(g)],
                **({"shard": list(session.shard)} if session.shard else {}),
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": ["us-east"],
                "auth": {},
                "application": {"id": str(self.application_id), "flags": (1 << 19) | (1 << 23)},
                "_trace": ['["fake-gateway"]'],
            },
        )
        for guild in self.guilds.values():
            if session.owns(guild.id):
                await session.dispatch("GUILD_CREATE", self._guild_payload(guild, full=True))
        session.ready = True
        self._changed()

    async def _dispatch(
        self, event: str, data: dict[str, Any], *, message: FakeMessage | None = None, redact: bool = False
    ) -> int:
        """Sends a DISPATCH to every identified session that owns the event's guild (DMs: shard 0),
        respecting intents for message events."""
        guild_id = _event_guild(event, data)
        sent = 0
        for session in list(self._sessions):
            if not session.ready or not session.owns(guild_id):
                continue
            payload = data
            if message is not None:
                needed = INTENT_DIRECT_MESSAGES if message.guild_id is None else INTENT_GUILD_MESSAGES
                if not session.intents & needed:
                    continue
                if (
                    redact
                    and message.guild_id is not None
                    and not session.intents & INTENT_MESSAGE_CONTENT
                    and message.author_id != self.bot_user_id
                    and self.bot_user_id not in message.mentions
                ):
                    payload = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
            with contextlib.suppress(ConnectionError, RuntimeError):
                await session.dispatch(event, payload)
                sent += 1
        return sent

    async def _dispatch_message(self, event: str, msg: FakeMessage) -> None:
        if msg.ephemeral:
            return  # ephemeral messages never reach the gateway
        data = self._message_payload(msg)
        if msg.guild_id is not None:
            data["member"] = self._member_payload(self.guilds[msg.guild_id], msg.author_id, with_user=False)
        await self._dispatch(event, data, message=msg, redact=True)

    # ------------------------------------------------------------------ fake users acting

    async def post_user_message(
        self,
        channel_id: int,
        content: str,
        *,
        user_id: int,
        reply_to: FakeMessage | None = None,
        mentions_bot: bool = False,
    ) -> FakeMessage:
        channel = self._live_channel(channel_id)
        if mentions_bot and reply_to is None and f"<@{self.bot_user_id}>" not in content:
            content = f"<@{self.bot_user_id}> {content}"
        msg = FakeMessage(
            self._next_id(),
            channel_id,
            user_id,
            content,
            guild_id=channel.guild_id,
            mentions=[self.bot_user_id] if mentions_bot else [],
        )
        if reply_to is not None:
            msg.type = 19
            msg.message_reference = {"message_id": str(reply_to.id), "channel_id": str(reply_to.channel_id)}
            if reply_to.guild_id:
                msg.message_reference["guild_id"] = str(reply_to.guild_id)
        self.messages[channel_id].append(msg)
        self._changed()
        await self._dispatch_message("MESSAGE_CREATE", msg)
        return msg

    def _find_command(self, name: str, cmd_type: int, guild_id: int | None) -> dict[str, Any]:
        scopes = [*(self.guild_commands.get(guild_id, []) if guild_id else []), *self.commands]
        for cmd in scopes:
            if cmd["name"] == name and cmd.get("type", 1) == cmd_type:
                return cmd
        known = [(c["name"], c.get("type", 1)) for c in scopes]
        raise LookupError(f"No synced command {name!r} of type {cmd_type}; synced: {known}")

    async def _dispatch_interaction(
        self, itype: int, data: dict[str, Any], *, user_id: int, channel_id: int, message: FakeMessage | None = None
    ) -> FakeInteraction:
        if user_id not in self.users:
            raise ValueError(f"unknown user {user_id}; create it with add_user()")
        channel = self._live_channel(channel_id)
        guild = self._guild_of(channel)
        iid = self._next_id()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        channel_payload = self._channel_payload(channel)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "channel_id": str(channel_id),
            "channel": channel_payload,
            "token": token,
            "version": 1,
            "locale": self.user_locales.get(user_id, "en-US"),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": self._upload_limit(channel),
            "app_permissions": str(_BOT_PERMS),
            "context": 0 if guild else 1,
            "authorizing_integration_owners": {"0": str(guild.id) if guild else "0"},
        }
        if guild is not None:
            member_perms = self.permissions_in(channel_id, user_id)
            channel_payload["permissions"] = str(member_perms)
            payload.update(
                guild_id=str(guild.id),
                guild_locale=self.guild_locales.get(guild.id, "en-US"),
                guild={"id": str(guild.id), "locale": self.guild_locales.get(guild.id, "en-US"), "features": []},
                member={**self._member_payload(guild, user_id), "permissions": str(member_perms)},
            )
        else:
            payload["user"] = self.users[user_id]
        if message is not None:
            payload["message"] = self._message_payload(message)
        inter = FakeInteraction(
            iid,
            token,
            itype,
            data,
            user_id,
            channel_id,
            guild.id if guild else None,
            message=message,
            payload=payload,
            dispatched_at=time.monotonic(),
        )
        self.interactions[iid] = inter
        if not await self._dispatch("INTERACTION_CREATE", payload):
            raise RuntimeError("no bot is connected to the fake gateway (did it finish IDENTIFY?)")
        self._changed()
        return inter

    async def invoke_slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user_id: int,
        channel_id: int,
        attachments: dict[str, FakeUpload] | None = None,
    ) -> FakeInteraction:
        """A user runs `/name` (or `/group sub`), option types taken from the synced definition."""
        guild_id = self.channels[channel_id].guild_id
        root, *subs = name.split()
        command = self._find_command(root, 1, guild_id)
        if guild_id is not None and not self.command_allowed(command, guild_id, channel_id, user_id):
            raise PermissionError(f"/{root} is disabled for this member here (Integrations); Discord hides it")
        options, attachments = dict(options or {}), dict(attachments or {})
        resolved: dict[str, dict[str, Any]] = {}
        defs, container = command.get("options") or [], []
        data: dict[str, Any] = {"id": command["id"], "name": root, "type": 1, "options": container}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        for sub in subs:
            sub_def = next((o for o in defs if o["name"] == sub and o["type"] in (1, 2)), None)
            if sub_def is None:
                raise LookupError(f"{name!r}: no subcommand {sub!r} in {[o['name'] for o in defs]}")
            nested: list[dict[str, Any]] = []
            container.append({"name": sub, "type": sub_def["type"], "options": nested})
            defs, container = sub_def.get("options") or [], nested
        for opt in defs:
            key = opt["name"]
            if opt["type"] == 11 and (key in attachments or isinstance(options.get(key), FakeUpload)):
                upload = attachments.pop(key, None) or options.pop(key)
                att = self._store_attachment(
                    channel_id, upload.filename, upload.data, upload.content_type, ephemeral=True
                )
                resolved.setdefault("attachments", {})[str(att.id)] = att.to_payload()
                container.append({"name": key, "type": 11, "value": str(att.id)})
            elif key in options:
                container.append(
                    {
                        "name": key,
                        "type": opt["type"],
                        "value": self._option_value(opt["type"], options.pop(key), resolved, guild_id),
                    }
                )
            elif opt.get("required"):
                raise ValueError(f"/{name}: required option {key!r} missing (Discord would not let the user send)")
        if any(o["type"] in (1, 2) for o in defs):
            raise ValueError(f"/{name} needs a subcommand: {[o['name'] for o in defs]}")
        if options or attachments:
            raise ValueError(
                f"/{name}: unknown options {sorted({*options, *attachments})}; defined: {[o['name'] for o in defs]}"
            )
        if resolved:
            data["resolved"] = resolved
        if not data["options"]:
            del data["options"]
        return await self._dispatch_interaction(2, data, user_id=user_id, channel_id=channel_id)

    def _option_value(self, opt_type: int, value: Any, resolved: dict, guild_id: int | None) -> Any:
        if opt_type == 3:
            return str(value)
        if opt_type == 4:
            return int(value)
        if opt_type == 5:
            return bool(value)
        if opt_type == 10:
            return float(value)
        if opt_type in (6, 9):
            resolved.setdefault("users", {})[str(value)] = self.users[int(value)]
            if guild_id:
                member = self._member_payload(self.guilds[guild_id], int(value), with_user=False)
                resolved.setdefault("members", {})[str(value)] = {**member, "permissions": str(_EVERYONE_PERMS)}
        elif opt_type == 7:
            resolved.setdefault("channels", {})[str(value)] = {
                **self._channel_payload(self.channels[int(value)]),
                "permissions": str(_EVERYONE_PERMS),
            }
        elif opt_type == 8 and guild_id:
            role = next(r for r in self._roles(self.guilds[guild_id]) if r["id"] == str(value))
            resolved.setdefault("roles", {})[str(value)] = role
        return str(value)

    async def invoke_autocomplete(
        self, name: str, options: dict[str, Any], focused: str, *, user_id: int, channel_id: int
    ) -> FakeInteraction:
        """A member types in option `focused` of `/name` (or `/group sub`); the bot answers type 8."""
        guild_id = self.channels[channel_id].guild_id
        root, *subs = name.split()
        command = self._find_command(root, 1, guild_id)
        defs, container = command.get("options") or [], []
        data: dict[str, Any] = {"id": command["id"], "name": root, "type": 1, "options": container}
        for sub in subs:
            sub_def = next(o for o in defs if o["name"] == sub and o["type"] in (1, 2))
            nested: list[dict[str, Any]] = []
            container.append({"name": sub, "type": sub_def["type"], "options": nested})
            defs, container = sub_def.get("options") or [], nested
        types = {opt["name"]: opt["type"] for opt in defs}
        container.extend(
            {"name": key, "type": types[key], "value": value, **({"focused": True} if key == focused else {})}
            for key, value in options.items()
        )
        return await self._dispatch_interaction(4, data, user_id=user_id, channel_id=channel_id)

    async def invoke_message_command(
        self, name: str, *, target: FakeMessage, user_id: int, channel_id: int
    ) -> FakeInteraction:
        guild_id = self.channels[channel_id].guild_id
        command = self._find_command(name, 3, guild_id)
        if guild_id is not None and not self.command_allowed(command, guild_id, channel_id, user_id):
            raise PermissionError(f"{name!r} is disabled for this member here (Integrations); Discord hides it")
        data: dict[str, Any] = {
            "id": command["id"],
            "name": name,
            "type": 3,
            "target_id": str(target.id),
            "resolved": {"messages": {str(target.id): self._message_payload(target)}},
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return await self._dispatch_interaction(2, data, user_id=user_id, channel_id=channel_id)

    def _component(self, message: FakeMessage, custom_id: str) -> dict[str, Any]:
        for _, comp in _walk_components(message.components):
            if comp.get("custom_id") == custom_id:
                if comp.get("disabled"):
                    raise ValueError(f"component {custom_id!r} is disabled; a user cannot use it")
                return comp
        ids = [c.get("custom_id") for _, c in _walk_components(message.components) if c.get("custom_id")]
        raise LookupError(f"message {message.id} has no component {custom_id!r}; it has {ids}")

    async def click_button(self, message: FakeMessage, custom_id: str, *, user_id: int) -> FakeInteraction:
        comp = self._component(message, custom_id)
        if comp.get("type") != 2:
            raise ValueError(f"component {custom_id!r} is type {comp.get('type')}, not a button")
        data = {"custom_id": custom_id, "component_type": 2, "id": comp.get("id")}
        return await self._dispatch_interaction(
            3, data, user_id=user_id, channel_id=message.channel_id, message=message
        )

    async def choose_select(
        self, message: FakeMessage, custom_id: str, values: list[str], *, user_id: int
    ) -> FakeInteraction:
        """A user picks `values` in a select menu (string selects; values are option values)."""
        comp = self._component(message, custom_id)
        data = {"custom_id": custom_id, "component_type": comp["type"], "id": comp.get("id"), "values": values}
        return await self._dispatch_interaction(
            3, data, user_id=user_id, channel_id=message.channel_id, message=message
        )

    async def submit_modal(
        self, interaction: FakeInteraction, values: dict[str, Any], *, user_id: int | None = None
    ) -> FakeInteraction:
        """The user fills in and submits the modal `interaction` answered with (callback type 9).

        Text inputs take str; selects / checkbox groups a str or list; radio groups a str; checkboxes a bool;
        file uploads a FakeUpload or a list of them.  Inputs not in `values` keep their pre-filled value.
        """
        if interaction.modal is None:
            raise ValueError(f"interaction {interaction.id} was not answered with a modal: {interaction.responses}")
        remaining, resolved = dict(values), {}

        def echo(comp: dict[str, Any]) -> dict[str, Any]:
            kind, cid = comp["type"], comp.get("custom_id")
            out: dict[str, Any] = {"type": kind, "id": comp["id"]}
            if kind == 1:
                out["components"] = [echo(c) for c in comp["components"]]
            elif kind == 18:
                out["component"] = echo(comp["component"])
            elif cid is None:
                return out  # text displays and other non-interactive parts
            elif kind == 4:
                value = remaining.pop(cid) if cid in remaining else comp.get("value") or ""
                if cid in values and not comp.get("min_length", 0) <= len(value) <= comp.get("max_length", 4000):
                    raise ValueError(f"text input {cid!r}: length {len(value)} is outside the input's limits")
                out.update(custom_id=cid, value=value)
            elif kind in (21, 23):  # radio group, checkbox
                out.update(custom_id=cid, value=remaining.pop(cid, None if kind == 21 else False))
            elif kind == 19:  # file upload: values are attachment ids, data in resolved
                uploads = remaining.pop(cid, [])
                ids = []
                for up in [uploads] if isinstance(uploads, FakeUpload) else uploads:
                    att = self._store_attachment(
                        interaction.channel_id, up.filename, up.data, up.content_type, ephemeral=True
                    )
                    resolved.setdefault("attachments", {})[str(att.id)] = att.to_payload()
                    ids.append(str(att.id))
                out.update(custom_id=cid, values=ids)
            else:  # selects, checkbox groups
                chosen = remaining.pop(cid, [])
                out.update(custom_id=cid, values=[chosen] if isinstance(chosen, str) else list(chosen))
            return out

        components = [echo(c) for c in interaction.modal["components"]]
        if remaining:
            known = [c["custom_id"] for _, c in _walk_components(interaction.modal["components"]) if "custom_id" in c]
            raise ValueError(f"modal {interaction.modal['custom_id']!r} has no inputs {sorted(remaining)}; has {known}")
        data: dict[str, Any] = {"custom_id": interaction.modal["custom_id"], "components": components}
        if resolved:
            data["resolved"] = resolved
        return await self._dispatch_interaction(
            5,
            data,
            user_id=user_id or interaction.user_id,
            channel_id=interaction.channel_id,
            message=interaction.message,
        )

    # ------------------------------------------------------------------ REST plumbing

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Awaitable[Any]], bool]]:
        sf, tok = r"(\d+)", r"([^/]+)"
        table = [
            ("GET", r"/gateway/bot", self._get_gateway_bot, True),
            ("GET", r"/gateway", self._get_gateway_bot, False),
            ("GET", r"/users/@me", self._get_me, True),
            ("POST", r"/users/@me/channels", self._create_dm, True),
            ("GET", rf"/users/{sf}", self._get_user, True),
            ("GET", r"/oauth2/applications/@me", self._get_app_info, True),
            ("GET", r"/applications/@me", self._get_app_info, True),
            ("GET", rf"/applications/{sf}/commands", self._get_commands, True),
            ("PUT", rf"/applications/{sf}/commands", self._put_commands, True),
            ("GET", rf"/applications/{sf}/guilds/{sf}/commands", self._get_commands, True),
            ("PUT", rf"/applications/{sf}/guilds/{sf}/commands", self._put_commands, True),
            ("GET", rf"/applications/{sf}/guilds/{sf}/commands/permissions", self._get_command_permissions, True),
            ("POST", rf"/interactions/{sf}/{tok}/callback", self._interaction_callback, False),
            ("POST", rf"/webhooks/{sf}/{tok}", self._webhook_execute, False),
            ("GET", rf"/webhooks/{sf}/{tok}/messages/(@original|\d+)", self._webhook_get, False),
            ("PATCH", rf"/webhooks/{sf}/{tok}/messages/(@original|\d+)", self._webhook_edit, False),
            ("DELETE", rf"/webhooks/{sf}/{tok}/messages/(@original|\d+)", self._webhook_delete, False),
            ("GET", rf"/channels/{sf}", self._get_channel, True),
            ("GET", rf"/channels/{sf}/messages", self._list_messages, True),
            ("POST", rf"/channels/{sf}/messages", self._post_message, True),
            ("GET", rf"/channels/{sf}/messages/{sf}", self._get_message, True),
            ("PATCH", rf"/channels/{sf}/messages/{sf}", self._edit_message, True),
            ("DELETE", rf"/channels/{sf}/messages/{sf}", self._delete_message, True),
            ("PUT", rf"/channels/{sf}/messages/{sf}/reactions/{tok}/@me", self._add_reaction, True),
            ("DELETE", rf"/channels/{sf}/messages/{sf}/reactions/{tok}/@me", self._remove_reaction, True),
            ("POST", rf"/channels/{sf}/threads", self._create_thread, True),
            ("POST", rf"/channels/{sf}/messages/{sf}/threads", self._create_thread, True),
            ("POST", rf"/channels/{sf}/typing", self._typing, True),
            ("GET", rf"/guilds/{sf}", self._get_guild, True),
            ("GET", rf"/guilds/{sf}/channels", self._get_guild_channels, True),
            ("GET", rf"/guilds/{sf}/members/{sf}", self._get_member, True),
            ("PATCH", rf"/guilds/{sf}/voice-states/@me", self._edit_my_voice_state, True),
        ]
        return [(method, re.compile(pattern + "$"), handler, auth) for method, pattern, handler, auth in table]

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        # discord.py only decodes JSON when Content-Type is exactly "application/json" (no charset).
        return web.Response(
            body=json.dumps(data).encode(),
            status=status,
            headers={"Content-Type": "application/json", "Via": "1.1 google", **(headers or {})},
        )

    @staticmethod
    async def _read_body(request: web.Request) -> _Body:
        if request.content_type.startswith("multipart/"):
            payload, files = None, {}
            reader = await request.multipart()
            async for part in reader:
                raw = bytes(await part.read())  # type: ignore[union-attr]
                name = part.name or ""  # type: ignore[union-attr]
                if name == "payload_json":
                    payload = json.loads(raw)
                elif match := re.fullmatch(r"files\[(\d+)\]", name):
                    files[int(match[1])] = (part.filename or "file", raw)  # type: ignore[union-attr]
            return _Body(payload, files)
        raw = await request.read()
        return _Body(json.loads(raw) if raw else None, {})

    def _injected_failure(self, method: str, path: str) -> _ApiError | None:
        for failure in self._failures:
            if failure.method == method and failure.path_regex.search(path):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                if failure.status == 429:
                    return self._rate_limited(failure.retry_after or 1.0, failure.message, failure.code)
                body = {
                    "message": failure.message or _DEFAULT_STATUS_MESSAGES.get(failure.status, "Error"),
                    "code": failure.code,
                }
                return _ApiError(failure.status, body)
        return None

    @staticmethod
    def _rate_limited(retry_after: float, message: str = "", code: int = 0) -> _ApiError:
        body: dict[str, Any] = {
            "message": message or "You are being rate limited.",
            "retry_after": retry_after,
            "global": False,
        }
        if code:
            body["code"] = code
        headers = {
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "fakebucket",
            "X-RateLimit-Scope": "user",
        }
        return _ApiError(429, body, headers)

    async def _api_handler(self, request: web.Request) -> web.Response:
        method = request.method
        in_api = request.path.startswith(API_PREFIX + "/")
        path = request.path[len(API_PREFIX) :] if in_api else request.path
        self.requests.append((method, path))
        self._changed()
        try:
            body = await self._read_body(request)
            if not in_api:
                self.unhandled.append((method, path))
                raise _error(404, 0, "404: Not Found")
            route = next(
                ((h, m, a) for meth, rx, h, a in self._routes if meth == method and (m := rx.match(path))), None
            )
            if route is not None and route[2] and request.headers.get("Authorization") != f"Bot {self.token}":
                raise _error(401, 0, "401: Unauthorized")
            for held_method, held_path, gate in self._holds:
                if held_method == method and held_path.search(path):
                    self.held.append((method, path))
                    self._changed()
                    await gate.wait()
            if (failure := self._injected_failure(method, path)) is not None:
                raise failure
            if route is None:
                if any(rx.match(path) for _, rx, _, _ in self._routes):
                    raise _error(405, 0, "405: Method Not Allowed")
                self.unhandled.append((method, path))
                raise _error(404, 0, "404: Not Found")
            handler, match, _ = route
            result = await handler(request, body, *match.groups())
        except _ApiError as exc:
            return self._json(exc.body, exc.status, exc.headers)
        if isinstance(result, web.Response):
            return result
        return web.Response(status=204, headers={"Via": "1.1 google"}) if result is None else self._json(result)

    async def _cdn(self, request: web.Request) -> web.Response:
        att = self._attachments.get(int(request.match_info["aid"]))
        q = request.query
        path = request.raw_path.split("?", 1)[0]
        expected = hmac.new(self._cdn_secret, f"{path}:{q.get('ex')}:{q.get('is')}".encode(), hashlib.sha256)
        if att is None or not hmac.compare_digest(expected.hexdigest(), q.get("hm", "")):
            # Discord's CDN refuses unsigned or tampered attachment URLs.
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(body=att.data, content_type=att.content_type or "application/octet-stream")

    def _live_channel(self, channel_id: int | str) -> _Channel:
        channel = self.channels.get(int(channel_id))
        if channel is None or channel.deleted:
            raise _error(404, 10003, "Unknown Channel")
        return channel

    def _live_message(self, channel_id: int | str, message_id: int | str) -> FakeMessage:
        self._live_channel(channel_id)
        for msg in self.messages[int(channel_id)]:
            if msg.id == int(message_id) and not msg.deleted:
                return msg
        raise _error(404, 10008, "Unknown Message")

    # ------------------------------------------------------------------ message create / edit

    def _attachments_from(
        self, payload: dict, files: dict[int, tuple[str, bytes]], channel: _Channel, existing: list[FakeAttachment]
    ) -> list[FakeAttachment]:
        """Resolves `attachments` (kept ids + new files[n] uploads) into stored attachments."""
        entries = payload.get("attachments")
        if entries is None:
            entries = [{"id": index} for index in sorted(files)]
        result: list[FakeAttachment] = []
        for entry in entries:
            ident = int(entry["id"])
            if ident in files:
                filename, data = files[ident]
                filename = entry.get("filename") or filename
                ctype = mimetypes.guess_type(filename)[0]
                result.append(
                    self._store_attachment(channel.id, filename, data, ctype, description=entry.get("description"))
                )
            else:
                result.extend(a for a in existing if a.id == ident)
        return result

    def _check_files(self, files: dict[int, tuple[str, bytes]], channel: _Channel) -> None:
        limit = self._upload_limit(channel)
        if any(len(data) > limit for _, data in files.values()):
            raise _error(413, 40005, "Request entity too large")

    def _create_message(
        self,
        channel: _Channel,
        body: _Body,
        *,
        inter: FakeInteraction | None = None,
        extra_flags: int = 0,
        error_root: tuple[str, ...] = (),
        check_empty: bool = True,
    ) -> FakeMessage:
        payload = body.payload or {}
        if error_root:
            payload = payload.get("data") or {}
        self._check_files(body.files, channel)
        errors: dict[str, Any] = {}
        _validate_message(payload, len(body.files), errors)
        if errors:
            for key in reversed(error_root):
                errors = {key: errors}
            raise _form_error(errors)
        has_body = any(payload.get(k) for k in ("embeds", "components", "sticker_ids", "poll")) or body.files
        if check_empty and not (payload.get("content") or "").strip() and not has_body:
            raise _error(400, 50006, "Cannot send an empty message")
        if channel.type == 1 and channel.recipient_id in self._closed_dms and inter is None:
            raise _error(403, 50007, "Cannot send messages to this user")
        reference = payload.get("message_reference")
        msg_type = 0
        if reference:
            ref_channel = int(reference.get("channel_id") or channel.id)
            target = self._find_message(int(reference["message_id"]))
            if target is None or target.channel_id != ref_channel:
                if reference.get("fail_if_not_exists", True):
                    raise _field_error("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
                reference = None
            else:
                reference = {"message_id": str(target.id), "channel_id": str(target.channel_id)}
                if target.guild_id:
                    reference["guild_id"] = str(target.guild_id)
                msg_type = 19
        if inter is not None and inter.type == 2:
            msg_type = 23 if inter.data.get("type", 1) != 1 else 20
        # SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS and IS_COMPONENTS_V2 are settable; EPHEMERAL only on interactions.
        settable = FLAG_COMPONENTS_V2 | 4 | 4096 | (FLAG_EPHEMERAL if inter is not None else 0)
        msg = FakeMessage(
            self._next_id(),
            channel.id,
            self.bot_user_id,
            payload.get("content") or "",
            embeds=[{"type": "rich", **e} for e in payload.get("embeds") or []],
            attachments=self._attachments_from(payload, body.files, channel, []),
            components=_number_components(payload.get("components") or []),
            allowed_mentions=payload.get("allowed_mentions"),
            message_reference=reference,
            flags=(int(payload.get("flags") or 0) & settable) | extra_flags,
            via_interaction=inter.id if inter else None,
            guild_id=channel.guild_id,
            type=msg_type,
        )
        self.messages.setdefault(channel.id, []).append(msg)
        self._changed()
        return msg

    def _edit(self, msg: FakeMessage, body: _Body, *, error_root: tuple[str, ...] = ()) -> FakeMessage:
        payload = body.payload or {}
        if error_root:
            payload = payload.get("data") or {}
        channel = self.channels[msg.channel_id]
        self._check_files(body.files, channel)
        merged = {
            "content": msg.content,
            "embeds": msg.embeds,
            "components": msg.components,
            "flags": msg.flags,
            **payload,
        }
        errors: dict[str, Any] = {}
        _validate_message(merged, len(body.files), errors)
        if errors:
            for key in reversed(error_root):
                errors = {key: errors}
            raise _form_error(errors)
        kept = payload.get("attachments", msg.attachments)
        if not (merged["content"] or "").strip() and not (
            merged["embeds"] or merged["components"] or kept or body.files
        ):
            raise _error(400, 50006, "Cannot send an empty message")
        if "content" in payload:
            msg.content = payload["content"] or ""
        if "embeds" in payload:
            msg.embeds = [{"type": "rich", **e} for e in payload["embeds"] or []]
        if "components" in payload:
            msg.components = _number_components(payload["components"] or [])
        if "allowed_mentions" in payload:
            msg.allowed_mentions = payload["allowed_mentions"]
        if "attachments" in payload or body.files:
            msg.attachments = self._attachments_from(payload, body.files, channel, msg.attachments)
        if "flags" in payload and payload["flags"] is not None:
            msg.flags = (msg.flags & ~4) | (int(payload["flags"]) & 4)  # only SUPPRESS_EMBEDS is editable
        msg.flags &= ~FLAG_LOADING
        msg.edits += 1
        msg.edited_at = _now()
        self._changed()
        return msg

    # ------------------------------------------------------------------ REST handlers: identity & commands

    async def _get_gateway_bot(self, request: web.Request, body: _Body) -> dict[str, Any]:
        return {
            "url": self.gateway_url,
            "shards": self.recommended_shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000 - len(self.identifies),
                "reset_after": 86_400_000,
                "max_concurrency": self.max_concurrency,
            },
        }

    async def _get_me(self, request: web.Request, body: _Body) -> dict[str, Any]:
        return {
            **self.users[self.bot_user_id],
            "verified": True,
            "mfa_enabled": False,
            "email": None,
            "locale": "en-US",
        }

    async def _get_user(self, request: web.Request, body: _Body, user_id: str) -> dict[str, Any]:
        if int(user_id) not in self.users:
            raise _error(404, 10013, "Unknown User")
        return self.users[int(user_id)]

    async def _get_app_info(self, request: web.Request, body: _Body) -> dict[str, Any]:
        owner = self._make_user(self._owner_id, "App Owner")
        return {
            "id": str(self.application_id),
            "name": "FakeBot",
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32),
            "owner": owner,
            "team": None,
            "flags": (1 << 19) | (1 << 23),
            "bot": self.users[self.bot_user_id],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "rpc_origins": [],
            "tags": [],
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
            "install_params": None,
            "custom_install_url": None,
        }

    async def _get_commands(
        self, request: web.Request, body: _Body, app_id: str, guild_id: str | None = None
    ) -> list[dict]:
        self._check_app(app_id)
        return self.guild_commands.get(int(guild_id), []) if guild_id else self.commands

    async def _get_command_permissions(
        self, request: web.Request, body: _Body, app_id: str, guild_id: str
    ) -> list[dict[str, Any]]:
        self._check_app(app_id)
        guild = int(guild_id)
        return [self._command_permissions_payload(guild, target) for target in self.command_permissions.get(guild, {})]

    def _check_app(self, app_id: str) -> None:
        if int(app_id) != self.application_id:
            raise _error(403, 50001, "Missing Access")

    async def _put_commands(
        self, request: web.Request, body: _Body, app_id: str, guild_id: str | None = None
    ) -> list[dict]:
        """Bulk overwrite: validates like Discord, keeps ids of commands that survive."""
        self._check_app(app_id)
        if guild_id and int(guild_id) not in self.guilds:
            raise _error(404, 10004, "Unknown Guild")
        errors: dict[str, Any] = {}
        seen: set[tuple[str, int]] = set()
        result = []
        for index, cmd in enumerate(body.payload or []):
            ctype = cmd.get("type", 1)
            name = cmd.get("name", "")
            # Slash commands: lowercase, no spaces. Context menus (types 2 and 3): any 1–32 characters.
            valid = (
                re.fullmatch(r"[-_'\w]{1,32}", name) and name == name.lower() if ctype == 1 else 1 <= len(name) <= 32
            )
            if not valid:
                _put_error(errors, (index, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            if (name, ctype) in seen:
                _put_error(
                    errors,
                    (index, "name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            seen.add((name, ctype))
            if ctype == 1 and not 1 <= len(cmd.get("description", "")) <= 100:
                _put_error(
                    errors, (index, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            self._validate_options(cmd.get("options") or [], (index, "options"), errors)
            scope = ("guild", int(guild_id)) if guild_id else ("global", None)
            cid = self._command_ids.setdefault((*scope, name, ctype), self._next_id())
            stored = {
                "id": str(cid),
                "application_id": str(self.application_id),
                "version": str(self._next_id()),
                "type": ctype,
                "description": "",
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                **cmd,
            }
            stored["id"] = str(cid)
            if guild_id:
                stored["guild_id"] = guild_id
            result.append(stored)
        check_localizations(body.payload or [], lambda path, code, message: _put_error(errors, path, code, message))
        if errors:
            raise _form_error(errors)
        if guild_id:
            self.guild_commands[int(guild_id)] = result
            self.sync_calls.append(("guild", int(guild_id)))
        else:
            self.commands = result
            self.sync_calls.append(("global", None))
        self._changed()
        return result

    def _validate_options(self, options: list[dict], path: tuple, errors: dict) -> None:
        _too_long(errors, path, options, 25)
        optional_seen = False
        for i, opt in enumerate(options):
            if opt.get("type") in (1, 2):
                self._validate_options(opt.get("options") or [], (*path, i, "options"), errors)
                continue
            if opt.get("required"):
                if optional_seen:
                    _put_error(
                        errors,
                        (*path, i),
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
            else:
                optional_seen = True
            if not 1 <= len(opt.get("description", "")) <= 100:
                _put_error(
                    errors, (*path, i, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            _too_long(errors, (*path, i, "choices"), opt.get("choices") or [], 25)

    # ------------------------------------------------------------------ REST handlers: interactions

    def _interaction_by_token(self, app_id: str, token: str) -> FakeInteraction:
        if int(app_id) != self.application_id:
            raise _error(404, 10015, "Unknown Webhook")
        for inter in self.interactions.values():
            if inter.token == token:
                return inter
        raise _error(401, 50027, "Invalid Webhook Token")

    async def _interaction_callback(self, request: web.Request, body: _Body, iid: str, token: str) -> Any:
        inter = self.interactions.get(int(iid))
        if inter is None or inter.token != token:
            raise _error(404, 10062, "Unknown interaction")
        if inter.responses:
            raise _error(400, 40060, "Interaction has already been acknowledged.")
        if self.interaction_deadline is not None and time.monotonic() - inter.dispatched_at > self.interaction_deadline:
            raise _error(404, 10062, "Unknown interaction")  # what Discord answers after the 3 s window
        payload = body.payload or {}
        rtype, data = payload.get("type"), payload.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(inter.type, set())
        if rtype not in allowed or (rtype == 7 and inter.message is None):
            raise _field_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type")
        channel = self.channels[inter.channel_id]
        message: FakeMessage | None = None
        if rtype == 4:
            message = self._create_message(channel, body, inter=inter, error_root=("data",))
        elif rtype == 5:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            message = self._create_message(channel, _Body({}, {}), inter=inter, extra_flags=flags, check_empty=False)
        elif rtype in (6, 7):
            message = inter.message
            if rtype == 7:
                self._edit(message, body, error_root=("data",))  # type: ignore[arg-type]
        elif rtype == 9:
            self._validate_modal(data)
            inter.modal = {**data, "components": _number_components(data.get("components") or [])}
        inter.original = message if rtype != 9 else None
        inter.ephemeral = bool(message and message.ephemeral and rtype in (4, 5))
        inter.responses.append(payload)
        self._changed()
        if rtype in (4, 5) and message is not None:
            await self._dispatch_message("MESSAGE_CREATE", message)
        elif rtype == 7 and message is not None:
            await self._dispatch_message("MESSAGE_UPDATE", message)
        if request.query.get("with_response") not in ("1", "true", "True"):
            return None
        info: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
        resource: dict[str, Any] = {"type": rtype}
        if message is not None and rtype in (4, 5, 7):
            info.update(
                response_message_id=str(message.id),
                response_message_loading=rtype == 5,
                response_message_ephemeral=message.ephemeral,
            )
            resource["message"] = self._message_payload(message)
        return {"interaction": info, "resource": resource}

    @staticmethod
    def _validate_modal(data: dict[str, Any]) -> None:
        errors: dict[str, Any] = {}
        _too_long(errors, ("data", "title"), data.get("title"), 45)
        _too_long(errors, ("data", "custom_id"), data.get("custom_id"), 100)
        components = data.get("components") or []
        if not 1 <= len(components) <= 5:
            _put_error(errors, ("data", "components"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        for path, comp in _walk_components(components, ("data", "components")):
            _too_long(errors, (*path, "custom_id"), comp.get("custom_id"), 100)
            _too_long(errors, (*path, "label"), comp.get("label"), 45)
        if errors:
            raise _form_error(errors)

    def _webhook_target(self, inter: FakeInteraction, message_id: str) -> FakeMessage:
        candidates = [inter.original, *inter.followups]
        target = (
            inter.original
            if message_id == "@original"
            else next((m for m in candidates if m is not None and m.id == int(message_id)), None)
        )
        if target is None or target.deleted:
            raise _error(404, 10008, "Unknown Message")
        return target

    async def _webhook_execute(self, request: web.Request, body: _Body, app_id: str, token: str) -> Any:
        inter = self._interaction_by_token(app_id, token)
        if not inter.responses:
            raise _error(404, 10015, "Unknown Webhook")
        loading = inter.original
        if loading is not None and loading.flags & FLAG_LOADING and not loading.deleted:
            # Discord: the first follow-up after a deferred (type 5) response replaces the "thinking" message
            # and keeps the defer's ephemerality.
            msg = self._edit(loading, body)
            msg.edits -= 1
            msg.edited_at = None
            await self._dispatch_message("MESSAGE_UPDATE", msg)
        else:
            flags = int((body.payload or {}).get("flags") or 0) & FLAG_EPHEMERAL
            msg = self._create_message(self.channels[inter.channel_id], body, inter=inter, extra_flags=flags)
            await self._dispatch_message("MESSAGE_CREATE", msg)
        inter.followups.append(msg)
        self._changed()
        if request.query.get("wait") not in ("1", "true", "True"):
            return None
        return self._message_payload(msg)

    async def _webhook_get(self, request: web.Request, body: _Body, app_id: str, token: str, mid: str) -> Any:
        return self._message_payload(self._webhook_target(self._interaction_by_token(app_id, token), mid))

    async def _webhook_edit(self, request: web.Request, body: _Body, app_id: str, token: str, mid: str) -> Any:
        msg = self._edit(self._webhook_target(self._interaction_by_token(app_id, token), mid), body)
        await self._dispatch_message("MESSAGE_UPDATE", msg)
        return self._message_payload(msg)

    async def _webhook_delete(self, request: web.Request, body: _Body, app_id: str, token: str, mid: str) -> None:
        await self._delete(self._webhook_target(self._interaction_by_token(app_id, token), mid))

    # ------------------------------------------------------------------ REST handlers: channels & messages

    async def _create_dm(self, request: web.Request, body: _Body) -> dict[str, Any]:
        user_id = int((body.payload or {}).get("recipient_id", 0))
        if user_id not in self.users or user_id == self.bot_user_id:
            raise _field_error("recipient_id", "NUMBER_TYPE_COERCE", "Value is not snowflake.")
        return self._channel_payload(self.channels[self.dm_channel_id(user_id)])

    async def _get_channel(self, request: web.Request, body: _Body, cid: str) -> dict[str, Any]:
        return self._channel_payload(self._live_channel(cid))

    async def _list_messages(self, request: web.Request, body: _Body, cid: str) -> list[dict[str, Any]]:
        self._live_channel(cid)
        limit = min(int(request.query.get("limit", 50)), 100)
        before, after = int(request.query.get("before", 1 << 63)), int(request.query.get("after", 0))
        msgs = [m for m in self.messages[int(cid)] if not m.deleted and after < m.id < before and not m.ephemeral]
        msgs = msgs[:limit] if "after" in request.query else msgs[-limit:]
        return [self._message_payload(m) for m in reversed(msgs)]

    async def _post_message(self, request: web.Request, body: _Body, cid: str) -> dict[str, Any]:
        channel = self._live_channel(cid)
        if channel.rate_limit is not None:
            limit, window = channel.rate_limit
            now = time.monotonic()
            while channel.sent_at and now - channel.sent_at[0] >= window:
                channel.sent_at.popleft()
            if len(channel.sent_at) >= limit:
                self.rate_limited_count[channel.id] += 1
                self._changed()
                raise self._rate_limited(round(window - (now - channel.sent_at[0]), 3) + 0.001, code=20028)
            channel.sent_at.append(now)
        payload = body.payload or {}
        nonce = str(payload["nonce"]) if payload.get("nonce") is not None else None
        if nonce is not None and payload.get("enforce_nonce"):
            seen = self._nonces.get((channel.id, nonce))
            if seen is not None and time.monotonic() - seen[0] < self.nonce_window and not seen[1].deleted:
                self.nonce_replays += 1
                self._changed()
                return self._message_payload(seen[1])
        msg = self._create_message(channel, body)
        if nonce is not None:
            msg.nonce = nonce
            self._nonces[(channel.id, nonce)] = (time.monotonic(), msg)
        await self._dispatch_message("MESSAGE_CREATE", msg)
        return self._message_payload(msg)

    async def _get_message(self, request: web.Request, body: _Body, cid: str, mid: str) -> dict[str, Any]:
        return self._message_payload(self._live_message(cid, mid))

    async def _edit_message(self, request: web.Request, body: _Body, cid: str, mid: str) -> dict[str, Any]:
        msg = self._live_message(cid, mid)
        if msg.author_id != self.bot_user_id:
            raise _error(403, 50005, "Cannot edit a message authored by another user")
        self._edit(msg, body)
        await self._dispatch_message("MESSAGE_UPDATE", msg)
        return self._message_payload(msg)

    async def _edit_my_voice_state(self, request: web.Request, body: _Body, gid: str) -> None:
        await self.voice.edit_bot_state(int(gid), body.payload or {})

    async def _delete_message(self, request: web.Request, body: _Body, cid: str, mid: str) -> None:
        await self._delete(self._live_message(cid, mid))

    async def _delete(self, msg: FakeMessage) -> None:
        msg.deleted = True
        self._changed()
        if not msg.ephemeral:
            data = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id:
                data["guild_id"] = str(msg.guild_id)
            await self._dispatch("MESSAGE_DELETE", data, message=msg)

    async def _add_reaction(self, request: web.Request, body: _Body, cid: str, mid: str, emoji: str) -> None:
        msg = self._live_message(cid, mid)
        if emoji not in msg.reactions:
            msg.reactions.append(emoji)
            self._changed()

    async def _remove_reaction(self, request: web.Request, body: _Body, cid: str, mid: str, emoji: str) -> None:
        msg = self._live_message(cid, mid)
        if emoji in msg.reactions:
            msg.reactions.remove(emoji)
            self._changed()

    async def _create_thread(self, request: web.Request, body: _Body, cid: str, mid: str | None = None) -> Any:
        parent = self._live_channel(cid)
        if parent.type != 0:
            raise _error(400, 50024, "Cannot execute action on this channel type")
        payload = body.payload or {}
        name = payload.get("name") or ""
        if not 1 <= len(name) <= 100:
            raise _field_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        starter = self._live_message(cid, mid) if mid else None
        if starter is not None and starter.thread_id:
            raise _error(400, 160004, "A thread has already been created for this message")
        # A thread started from a message shares the message's id, like on Discord.
        thread = _Channel(
            starter.id if starter else self._next_id(),
            11 if starter else payload.get("type", 12),
            name,
            parent.guild_id,
            parent_id=parent.id,
            owner_id=self.bot_user_id,
        )
        self.channels[thread.id] = thread
        self.messages[thread.id] = []
        self.guilds[parent.guild_id].channel_ids.append(thread.id)  # type: ignore[index]
        if starter is not None:
            starter.thread_id = thread.id
        self._changed()
        await self._dispatch("THREAD_CREATE", {**self._channel_payload(thread), "newly_created": True})
        return self._channel_payload(thread)

    async def _typing(self, request: web.Request, body: _Body, cid: str) -> None:
        self._live_channel(cid)

    async def _get_guild(self, request: web.Request, body: _Body, gid: str) -> dict[str, Any]:
        if int(gid) not in self.guilds:
            raise _error(404, 10004, "Unknown Guild")
        return self._guild_payload(self.guilds[int(gid)], full=False)

    async def _get_guild_channels(self, request: web.Request, body: _Body, gid: str) -> list[dict[str, Any]]:
        guild = self.guilds.get(int(gid))
        if guild is None:
            raise _error(404, 10004, "Unknown Guild")
        return [
            self._channel_payload(self.channels[c])
            for c in guild.channel_ids
            if not self.channels[c].deleted and self.channels[c].type == 0
        ]

    async def _get_member(self, request: web.Request, body: _Body, gid: str, uid: str) -> dict[str, Any]:
        guild = self.guilds.get(int(gid))
        if guild is None:
            raise _error(404, 10004, "Unknown Guild")
        if not self.is_member(int(gid), int(uid)):
            raise _error(404, 10007, "Unknown Member")
        return self._member_payload(guild, int(uid))


@dataclass(frozen=True)
class Identify:
    """One IDENTIFY the fake accepted: when (wall clock), for which shard, which session."""

    at: float
    shard: tuple[int, int] | None
    session_id: str


def _event_guild(event: str, data: dict[str, Any]) -> int | None:
    """The guild an event belongs to (its own id for GUILD_* events); None for DMs."""
    raw = data.get("id") if event.startswith("GUILD_") and "guild_id" not in data else data.get("guild_id")
    return int(raw) if raw is not None else None


class _GatewaySession:
    """One websocket connection from a bot; numbers DISPATCH frames with its own sequence."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.seq = 0
        self.identified = False
        self.ready = False
        self.intents = 0
        self.session_id = ""
        self.shard: tuple[int, int] | None = None  # [shard_id, shard_count] from IDENTIFY
        self._lock = asyncio.Lock()

    def owns(self, guild_id: int | None) -> bool:
        """Whether Discord would send this guild's events here: an unsharded session gets all."""
        if self.shard is None:
            return True
        shard_id, shard_count = self.shard
        return (0 if guild_id is None else (guild_id >> 22) % shard_count) == shard_id

    async def send(self, op: int, data: Any, event: str | None = None) -> None:
        async with self._lock:
            seq = None
            if op == 0:
                self.seq += 1
                seq = self.seq
            await self.ws.send_str(json.dumps({"op": op, "d": data, "s": seq, "t": event}))

    async def dispatch(self, event: str, data: Any) -> None:
        await self.send(0, data, event)


__all__ = [
    "MAX_GUILDS_PER_SHARD",
    "UPLOAD_LIMITS",
    "FakeAttachment",
    "FakeDiscord",
    "FakeInteraction",
    "FakeMessage",
    "FakeUpload",
    "Identify",
]
