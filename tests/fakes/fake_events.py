"""Guild scheduled events for the fake Discord (contests' results event), kept out of fake_discord.py.

`FakeDiscord` creates one as `fake.events` and adds its routes to its table:
* `POST /guilds/{guild}/scheduled-events`: checked like Discord for an EXTERNAL event (entity type 3):
  `name` 1–100, `privacy_level` 2, `entity_metadata.location` 1–100, `scheduled_start_time` not in
  the past, `scheduled_end_time` required and after the start. Without Create Events the bot gets
  403 (50013), as on Discord; `bot_can_manage_events = False` takes the permission away.
* `GET`/`PATCH`/`DELETE /guilds/{guild}/scheduled-events/{event}`: name, description, start and end
  times can change; status moves 1 SCHEDULED → 2
  ACTIVE → 3 COMPLETED, or 1 → 4 CANCELED; anything else is a form error, and a finished event
  cannot change at all (180000).

Records: `events` (event id → payload as Discord would answer it), `status_changes`
((event id, old status, new status), in order, refusals left out).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.fake_discord import FakeDiscord

SCHEDULED, ACTIVE, COMPLETED, CANCELED = 1, 2, 3, 4
ALLOWED = {(SCHEDULED, ACTIVE), (SCHEDULED, CANCELED), (ACTIVE, COMPLETED)}
PAST_TOLERANCE = 5.0
"""Seconds a start time may lie in the past (clock skew between the bot and Discord)."""


class FakeScheduledEvents:
    def __init__(self, fake: FakeDiscord) -> None:
        self._fake = fake
        self.events: dict[int, dict[str, Any]] = {}
        self.status_changes: list[tuple[int, int, int]] = []
        self.bot_can_manage_events = True

    def routes(self) -> list[tuple[str, str, Any, bool]]:
        sf = r"(\d+)"
        return [
            ("GET", rf"/guilds/{sf}/scheduled-events", self._list, True),
            ("POST", rf"/guilds/{sf}/scheduled-events", self._create, True),
            ("GET", rf"/guilds/{sf}/scheduled-events/{sf}", self._get, True),
            ("PATCH", rf"/guilds/{sf}/scheduled-events/{sf}", self._edit, True),
            ("DELETE", rf"/guilds/{sf}/scheduled-events/{sf}", self._delete, True),
        ]

    def in_guild(self, guild_id: int) -> list[dict[str, Any]]:
        return [event for event in self.events.values() if int(event["guild_id"]) == guild_id]

    @staticmethod
    def _errors() -> Any:
        from tests.fakes import fake_discord

        return fake_discord

    def _guild(self, gid: str) -> None:
        errors = self._errors()
        if int(gid) not in self._fake.guilds:
            raise errors._error(404, 10004, "Unknown Guild")
        if not self.bot_can_manage_events:
            raise errors._error(403, 50013, "Missing Permissions")

    def _event(self, gid: str, eid: str) -> dict[str, Any]:
        self._guild(gid)
        event = self.events.get(int(eid))
        if event is None or event["guild_id"] != gid:
            raise self._errors()._error(404, 10070, "Unknown Guild Scheduled Event")
        return event

    async def _list(self, request: Any, body: Any, gid: str) -> list[dict[str, Any]]:
        self._guild(gid)
        return self.in_guild(int(gid))

    async def _create(self, request: Any, body: Any, gid: str) -> dict[str, Any]:
        self._guild(gid)
        errors = self._errors()
        data = body.payload or {}
        name = str(data.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise errors._field_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if data.get("privacy_level") != 2:
            raise errors._field_error("privacy_level", "BASE_TYPE_CHOICES", "Value must be one of {2}.")
        if data.get("entity_type") != 3:
            raise errors._field_error("entity_type", "BASE_TYPE_CHOICES", "Only external events are faked.")
        location = str((data.get("entity_metadata") or {}).get("location") or "")
        if not 1 <= len(location) <= 100:
            raise errors._field_error(
                "entity_metadata", "BASE_TYPE_BAD_LENGTH", "location must be between 1 and 100 in length."
            )
        try:
            start = dt.datetime.fromisoformat(str(data["scheduled_start_time"]))
            end = dt.datetime.fromisoformat(str(data["scheduled_end_time"]))
        except (KeyError, ValueError):
            raise errors._field_error(
                "scheduled_end_time", "GUILD_SCHEDULED_EVENT_SCHEDULE_INVALID", "External events need start and end."
            ) from None
        now = dt.datetime.now(dt.UTC)
        if (now - start).total_seconds() > PAST_TOLERANCE:
            raise errors._field_error(
                "scheduled_start_time", "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST", "Cannot schedule event in the past."
            )
        if end <= start:
            raise errors._field_error(
                "scheduled_end_time", "GUILD_SCHEDULED_EVENT_SCHEDULE_INVALID", "End must be after the start."
            )
        event_id = self._fake._next_id()
        event = {
            "id": str(event_id),
            "guild_id": gid,
            "channel_id": None,
            "creator_id": str(self._fake.bot_user_id),
            "name": name,
            "description": data.get("description"),
            "scheduled_start_time": start.isoformat(),
            "scheduled_end_time": end.isoformat(),
            "privacy_level": 2,
            "status": SCHEDULED,
            "entity_type": 3,
            "entity_id": None,
            "entity_metadata": {"location": location},
            "creator": self._fake.users[self._fake.bot_user_id],
            "user_count": 0,
            "image": None,
        }
        self.events[event_id] = event
        self._fake._changed()
        return event

    async def _get(self, request: Any, body: Any, gid: str, eid: str) -> dict[str, Any]:
        return self._event(gid, eid)

    async def _edit(self, request: Any, body: Any, gid: str, eid: str) -> dict[str, Any]:
        event = self._event(gid, eid)
        errors = self._errors()
        old = int(event["status"])
        if old in (COMPLETED, CANCELED):
            raise errors._error(400, 180000, "Cannot update a finished event")
        data = body.payload or {}
        if "status" in data:
            new = int(data["status"])
            if (old, new) not in ALLOWED:
                raise errors._field_error("status", "GUILD_SCHEDULED_EVENT_INVALID_STATUS", "Invalid status change.")
            event["status"] = new
            self.status_changes.append((int(eid), old, new))
        for key in ("name", "description"):
            if key in data:
                event[key] = data[key]
        for key in ("scheduled_start_time", "scheduled_end_time"):
            if key in data:
                event[key] = dt.datetime.fromisoformat(str(data[key])).isoformat()
        self._fake._changed()
        return event

    async def _delete(self, request: Any, body: Any, gid: str, eid: str) -> None:
        self._event(gid, eid)
        del self.events[int(eid)]
        self._fake._changed()
