"""Addresses of the web pages, for messages in Discord (song messages, /song info, /share)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from bot.core.settings import Settings


def web_off_reason(settings: Settings) -> str | None:
    """Why the web gallery is off (the variables it lacks), or None when it is on."""
    missing = [
        name
        for name, value in (
            ("PUBLIC_URL", settings.public_url),
            ("DISCORD_CLIENT_SECRET", settings.discord_client_secret),
            ("SECRET_KEY", settings.secret_key),
        )
        if not value
    ]
    return f"{', '.join(missing)} not set" if missing else None


@dataclass(frozen=True, slots=True)
class WebLinks:
    """The public addresses of the gallery's pages under PUBLIC_URL."""

    base: str

    def song_page(self, guild_id: int, song_id: str) -> str:
        return f"{self.base}/servers/{guild_id}/songs/{quote(song_id, safe='')}"

    def gallery(self, guild_id: int) -> str:
        return f"{self.base}/servers/{guild_id}"

    def share_page(self, token: str) -> str:
        return f"{self.base}/s/{token}"

    @classmethod
    def from_settings(cls, settings: Settings) -> WebLinks | None:
        """The links when the web gallery is on, else None."""
        if web_off_reason(settings) is not None or settings.public_url is None:
            return None
        return cls(settings.public_url)
