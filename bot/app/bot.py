"""The Discord client: owns the services, the webhook listener, the poller and command sync."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from typing import Any

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot import __version__
from bot.access.permissions import CommandAccess, role_ids
from bot.access.visibility import Visibility
from bot.app import gateway
from bot.app.commands import COMMAND_OFF, EXTENSIONS, MusicTree, sync_commands
from bot.app.listener import Listener, Listening
from bot.billing.service import Billing
from bot.cluster.identify import IdentifyGate, LocalSlots
from bot.cluster.leases import Leases, instance_id
from bot.contests.service import ContestService
from bot.core.errors import InvalidInput, UserError
from bot.core.metrics import Metrics, rest_limit
from bot.core.settings import Settings
from bot.i18n import t
from bot.ops.alerts import AccountAlerts
from bot.ops.health import GatewayWatch, health_report
from bot.ops.startup import check_producer_token
from bot.playlists.radio import RadioPicker
from bot.playlists.service import PlaylistService
from bot.producer import media
from bot.producer.client import ProducerClient
from bot.songs import render
from bot.songs.delivery import Delivery
from bot.songs.exports import ExportService
from bot.songs.favourites import Favourites
from bot.songs.lyrics import LyricsService
from bot.songs.poller import TaskPoller
from bot.songs.preferences import PreferenceService
from bot.songs.requests import Clock, SongRequest
from bot.songs.retention import Pruner
from bot.songs.service import SongService
from bot.songs.status_sync import StatusSync
from bot.storage.repository import Repository, SongRow
from bot.voice.party import Parties
from bot.web.links import WebLinks

log = logging.getLogger(__name__)

CLOSE_MARGIN = 2.0
"""Seconds of SHUTDOWN_GRACE kept for handing back unfinished deliveries and disconnecting."""

INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    add_reactions=True,
    connect=True,  # listening parties: join a voice channel
    speak=True,  # and play in it
    create_events=True,  # song contests: the results' scheduled event
    manage_events=True,  # and marking it complete
)


class MusicBot(Listening, commands.AutoShardedBot):
    """One process of the bot: gateway shards, webhook listener and poller.

    With neither SHARD_COUNT nor SHARD_IDS this is today's single process on one gateway
    connection (shard 0 of 1). Several processes share one database and one PUBLIC_URL; each runs
    the shards SHARD_IDS names, and any of them can take any callback and post any song (posting
    is REST with the bot token, which needs no gateway shard).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        repo: Repository,
        session: aiohttp.ClientSession,
        clock: Clock = time.time,
        **options: Any,
    ) -> None:
        intents = discord.Intents.default()
        # Privileged: only when the owner enabled it in the developer portal (plain replies then work too).
        intents.message_content = settings.message_content_intent
        intents.voice_states = True  # listening parties: who is in which voice channel (not privileged)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=MusicTree,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            shard_count=settings.shard_count or 1,
            shard_ids=list(settings.shard_ids) if settings.shard_ids is not None else None,
            **options,
        )
        self.settings = settings
        self.instance_id = instance_id()
        """Names this process in the database's leases (host, pid and a random part)."""
        self.identify_gate = IdentifyGate(self._identify_slot, self._max_concurrency)
        # On PostgreSQL every process is a cluster member, whatever SHARD_IDS says: a rolling deploy or
        # a replica started by mistake puts two "lone" processes on one database, and a process that
        # believed itself alone would hand back the other's deliveries at start. SQLite is one process.
        shared = settings.shard_ids is not None or settings.database_url is not None
        self.leases = Leases(owner=self.instance_id, ttl=settings.lease_seconds, shared=shared)
        self.repo = repo
        self.http_session = session
        self.metrics = Metrics()
        self.api = ProducerClient(
            session, settings.producer_api_base, settings.producer_api_token, metrics=self.metrics
        )
        self.alerts = AccountAlerts(self, repo, self.instance_id)
        self.api.account_listeners.append(self.alerts.observe)
        self.media_session = media.media_session(allow_private=settings.allow_private_media_hosts)
        """Downloads of result files (attachments, WAV, video): connects to public addresses only."""
        self.delivery = Delivery(self, repo, self.media_session, allow_private_media=settings.allow_private_media_hosts)
        self.delivery.shared = self.leases.shared
        self.delivery.owner = self.leases.owner
        self.languages = self.delivery.languages  # the language of each server's public messages
        self.songs = SongService(
            settings, repo, self.api, self.delivery, clock=clock, metrics=self.metrics, leases=self.leases
        )
        self.billing = Billing(settings, repo, self.api, self, clock=clock)  # server keys, budgets, role caps
        self.billing.register(self.songs.follow_ups.register, self.songs.follow_ups.wake)
        self.poller = TaskPoller(settings, self.api, self.songs, repo, clock=clock)
        self.status_sync = StatusSync(self.delivery, repo, self.leases)
        self.pruner = Pruner(repo, settings.retention_days, clock=clock)
        self.access = CommandAccess(self)
        self.visibility = Visibility(self, repo)
        self.delivery.visibility = self.visibility
        self.prefs = PreferenceService(repo, self.songs, clock=clock)
        self.songs.auto_dm = self._wants_dms
        self.lyrics = LyricsService(self.songs, repo, self.api)
        self.exports = ExportService(repo, self.api, clock=clock)
        self.favourites = Favourites(repo, self.delivery, clock=clock)
        self.favourites.follow_ups = self.songs.follow_ups
        self.songs.follow_ups.shards = self._my_shards
        self.songs.follow_ups.register("favourite", self.favourites.post_queued)
        self.contests = ContestService(
            repo,
            self,
            songs=self.songs,
            delivery=self.delivery,
            visibility=self.visibility,
            follow_ups=self.songs.follow_ups,
            leases=self.leases,
            clock=clock,
        )
        self.songs.follow_ups.register("contest", self.contests.announce)
        self.parties = Parties(
            self,
            self.media_session,
            max_parties=settings.max_listening_parties,
            allow_private_media=settings.allow_private_media_hosts,
            repo=repo,
            normalise=settings.voice_normalise,
        )
        self.playlists = PlaylistService(repo, self.visibility, clock=clock)
        self.radio = RadioPicker(repo, self.visibility)
        self.gateway = GatewayWatch(self)
        self._count_discord_errors()
        self._local_slots = LocalSlots()
        self.listener = Listener(settings.webhook_host)
        self._token_check: asyncio.Task[None] | None = None
        self._starting: set[asyncio.Task[Any]] = set()
        self._recovery: asyncio.Task[None] | None = None
        self.web_links = WebLinks.from_settings(settings)
        """The web gallery's addresses (song pages, share links), or None when it is off."""
        self._accepting_callbacks = False
        """Set once interrupted deliveries are released: a callback taken earlier could be delivered twice."""
        self._stopping = asyncio.Event()
        self._closing: asyncio.Future[None] | None = None

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait for a cluster-wide IDENTIFY slot instead of discord.py's per-process 5 s sleep."""
        await self.identify_gate.wait(shard_id or 0)

    async def _max_concurrency(self) -> int:
        limits = await self.fetch_session_start_limits()
        return limits.max_concurrency

    async def _identify_slot(self, name: str, seconds: float) -> bool:
        """In a cluster the slot is a lease in the shared database, taken under a name used once,
        so not even this process's own next shard can renew it early; alone, memory will do."""
        if not self.leases.shared:
            return await self._local_slots.take(name, seconds)
        once = f"{self.instance_id}:{secrets.token_hex(4)}"
        return await self.repo.try_lease(name, once, seconds)

    async def setup_hook(self) -> None:
        """Only what answering needs, so the gateway connects and `/healthz` is up at once.

        Everything that talks to the Producer API (looking up unconfirmed submissions, taking in
        results, starting queued songs) runs in the background afterwards: a slow or unreachable
        API then delays those songs, never the bot coming online.
        """
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self._token_check = asyncio.create_task(check_producer_token(self.api, self.settings.producer_api_base))
        await self.open_listener()  # already open when started by `python -m bot`
        await self._add_web_pages()
        await self.songs.release_interrupted()  # before callbacks are taken, so nothing is delivered twice
        self._accepting_callbacks = True
        self.poller.start()
        self.status_sync.start()
        self.songs.follow_ups.start()
        self.pruner.start()
        self.contests.start()
        self._recovery = asyncio.create_task(self._recover(), name="recover")
        await self._sync_commands()

    async def _recover(self) -> None:
        await self.billing.start()
        try:
            await self.songs.recover()
        except Exception:
            log.exception("Recovery after start failed; the poller retries what is left")

    async def launch_shard(self, gateway_url: yarl.URL, shard_id: int, *, initial: bool = False) -> None:
        """One WARNING per failed attempt with back-off, and no retrying once stopping (see `gateway`)."""
        await gateway.launch_shard(self, self._stopping, gateway_url, shard_id, initial=initial)

    async def _sync_commands(self) -> None:
        await sync_commands(
            self.tree, self.repo, application_id=self.application_id, dev_guild_id=self.settings.dev_guild_id
        )
        self.access.forget_commands()

    async def _wants_dms(self, user_id: int) -> bool:
        """`/prefer auto_dm`, from the preferences cache (a change reaches other processes within
        its lifetime)."""
        return (await self.prefs.get(user_id)).auto_dm

    def _my_shards(self) -> tuple[int, tuple[int, ...]] | None:
        """(shard count, the shards this process runs) when it runs only some, else None."""
        if self.settings.shard_ids is None:
            return None
        return self.shard_count or 1, tuple(self.settings.shard_ids)

    async def fetch_command_ids(self) -> dict[str, set[int]]:
        """For `CommandAccess`: the registered commands' ids (global and the development guild's)."""
        ids: dict[str, set[int]] = {}
        scopes: list[discord.abc.Snowflake | None] = [None]
        if self.settings.dev_guild_id:
            scopes.append(discord.Object(self.settings.dev_guild_id))
        for scope in scopes:
            for command in await self.tree.fetch_commands(guild=scope):
                ids.setdefault(command.name, set()).add(command.id)
        return ids

    async def fetch_command_permissions(self, guild_id: int) -> list[dict[str, Any]]:
        """For `CommandAccess`: the guild's Integrations overrides."""
        assert self.application_id is not None
        return await self.http.get_guild_application_command_permissions(self.application_id, guild_id)

    async def dm_owner(self, text: str) -> None:
        """For `AccountAlerts`: a DM to the application's owner (a team's owner)."""
        await self.wait_until_ready()
        info = await self.application_info()
        owner = info.team.owner if info.team and info.team.owner else info.owner
        await owner.send(text, allowed_mentions=discord.AllowedMentions.none())

    def _track_start(self) -> None:
        """Remember the running request so `close()` lets it finish before the database closes."""
        current = asyncio.current_task()
        if current is not None:
            self._starting.add(current)
            current.add_done_callback(self._starting.discard)

    async def start_song(self, interaction: discord.Interaction, request: SongRequest) -> None:
        """The shared path of every song command: acknowledge, charge, queue or submit, show status.

        Validation has already happened (nothing is charged for bad input). Errors raised here
        (quota, full queue, API refusal) reach the member through `report_error`.
        """
        self._track_start()
        self.check_can_post(interaction)
        request = dataclasses.replace(request, role_ids=role_ids(interaction.user))
        status_message_id = None
        if not interaction.response.is_done():
            acknowledged = await interaction.response.defer(thinking=True)
            status_message_id = acknowledged.message_id if acknowledged is not None else None
            self.metrics.command_ack_latency.observe(
                max(0.0, (discord.utils.utcnow() - interaction.created_at).total_seconds())
            )
        if status_message_id is None:
            status_message_id = (await interaction.original_response()).id
        task = await self.songs.enqueue(request, status_message_id=status_message_id)
        self.delivery.remember_interaction(task.id, interaction)
        await self.songs.admit(task)

    async def find_song(self, interaction: discord.Interaction, reference: str) -> SongRow:
        """The song a member named, in this guild, made in a channel they can view; a clear error otherwise."""
        assert interaction.guild_id is not None
        song = await self.songs.find_song(interaction.guild_id, reference)
        member = interaction.user
        if isinstance(member, discord.Member) and not await self.visibility.member_can_view(member, song.channel_id):
            raise InvalidInput("That song was made in a channel you cannot see.")
        return song

    @staticmethod
    def check_can_post(interaction: discord.Interaction) -> None:
        """Songs are posted where they were asked for: not where the member may not post themselves
        (a read-only channel, a feed), whatever button or menu they used there."""
        permissions = interaction.permissions
        allowed = (
            permissions.send_messages_in_threads
            if isinstance(interaction.channel, discord.Thread)
            else permissions.send_messages
        )
        if interaction.guild_id is not None and not allowed:
            raise InvalidInput("You cannot send messages in this channel, so I will not post a song here.")

    async def check_command_access(self, command: str, member: discord.abc.User, channel: Any) -> None:
        """Refuse what the server's Integrations settings disable for this member here (`/command`'s
        buttons, menus, replies and mentions follow the command)."""
        if isinstance(member, discord.Member) and not await self.access.allowed(command, member, channel):
            raise InvalidInput(COMMAND_OFF, command=command)

    async def on_raw_app_command_permissions_update(self, payload: discord.RawAppCommandPermissionsUpdateEvent) -> None:
        self.access.forget(payload.guild.id)

    async def start_song_from_message(self, message: discord.Message, request: SongRequest) -> None:
        """The same path for a request made by a message (a reply to a song): the status is a reply."""
        self._track_start()
        locale = await self.languages.of(request.guild_id)  # public replies: the server's language
        try:
            task = await self.songs.enqueue(dataclasses.replace(request, role_ids=role_ids(message.author)))
            try:
                status = await message.reply(
                    render.status_text(task, locale=locale), allowed_mentions=render.NO_MENTIONS
                )
                await self.repo.set_status_message(task.id, status.id)
            except discord.HTTPException as exc:  # charged already: the song goes on without a status line
                log.warning("Could not post the status of task %d (%s)", task.id, exc.code)
            await self.songs.admit(task)
        except UserError as exc:
            with contextlib.suppress(discord.HTTPException):
                await message.reply(t(locale, exc.phrase), allowed_mentions=render.NO_MENTIONS)

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        """Every event passes here first, so /healthz knows each shard's connection at once."""
        self.gateway.observe(event_name, *args)
        super().dispatch(event_name, *args, **kwargs)

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: messages matter only to cog listeners (reply-to-extend, jam lines)."""

    async def on_ready(self) -> None:
        assert self.user is not None
        invite = discord.utils.oauth_url(
            self.user.id, permissions=INVITE_PERMISSIONS, scopes=("bot", "applications.commands")
        )
        log.info(
            "Logged in as %s (%d) in %d servers. Invite: %s",
            self.user,
            self.user.id,
            len(self.guilds),
            invite,
        )

    async def health(self) -> tuple[bool, dict[str, object]]:
        """For `/healthz`: `starting` until every shard has been ready once; then every shard connected
        (or only briefly not) and the database answering."""
        return await health_report(
            self.gateway,
            lambda: self.repo.count_tasks("pending"),
            ready=self.is_ready(),
            logged_in=self.user is not None,
            about={"bot": "producer-discord-bot", "version": __version__},
            mode="callback" if self.settings.callback_mode else "polling",
        )

    async def metrics_text(self) -> bytes:
        """For `/metrics`: the gauges read now, then everything in Prometheus' text format."""
        counts = await self.repo.count_tasks("queued", "reserved", "pending", "received", "delivering")
        self.metrics.queue_length.set(counts.pop("queued"))
        self.metrics.songs_in_progress.set(sum(counts.values()))
        if isinstance(self, discord.AutoShardedClient):
            self.metrics.set_gateway_latencies(list(self.latencies))
        else:
            self.metrics.set_gateway_latencies([(self.shard_id or 0, self.latency)])
        return self.metrics.render()

    def _count_discord_errors(self) -> None:
        """Count the Discord REST requests that spend the global limit, and failed ones by status, at
        the one place every bot-token request passes (interaction-token requests take another way)."""
        request = self.http.request
        counter = self.metrics.discord_errors
        spent = self.metrics.discord_global_requests

        async def counted(route: discord.http.Route, **kwargs: Any) -> Any:
            if rest_limit(route.path) == "global":
                spent.inc()
            try:
                return await request(route, **kwargs)
            except discord.HTTPException as exc:
                counter.labels(str(exc.status)).inc()
                raise

        self.http.request = counted  # type: ignore[method-assign]

    async def close(self) -> None:
        """Stop taking work first, let requests being charged and deliveries finish, then disconnect.

        The heartbeat stops last: while deliveries finish or are handed back within the grace, their
        leases stay renewed, so no other process takes over work this one is still doing. Calling it
        again (a second signal, `async with` ending) waits for the same close instead of repeating it.
        """
        self._stopping.set()
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_in_order())
        await asyncio.shield(self._closing)

    async def _close_in_order(self) -> None:
        loop = asyncio.get_running_loop()
        grace = self.settings.shutdown_grace
        deadline = loop.time() + max(grace - CLOSE_MARGIN, grace / 2)

        def left() -> float:
            """What remains of the grace for waiting on work; the margin hands back the rest."""
            return max(0.0, deadline - loop.time())

        await self.poller.stop_sweeping()
        await self.status_sync.stop()
        await self.songs.follow_ups.stop()
        await self.parties.close()  # each party leaves its voice channel and says so
        await self.pruner.stop()
        await self.contests.stop()
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()  # what it did not finish, the next start does
            await asyncio.gather(self._recovery, return_exceptions=True)
        starting = [task for task in self._starting if task is not asyncio.current_task()]
        if starting:
            await asyncio.wait(starting, timeout=left())
        await self.listener.close()
        if self._token_check is not None:
            self._token_check.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.favourites.drain(), left())
        await self.alerts.close()
        await self.billing.close()
        await self.songs.close(grace=left())  # deliveries not done by then are handed back
        await self.poller.stop()
        await super().close()
        await self.media_session.close()
