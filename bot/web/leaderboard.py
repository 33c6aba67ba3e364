"""The leaderboard page, `/servers/{guild}/leaderboard`: the figures `/leaderboard` shows in Discord.

Contest wins, podiums, stars received and songs made per member (`Repository.leaderboard`), for the
server's members only (the same `WebPages` sign-in and membership check as its gallery).
"""

from __future__ import annotations

import time

from aiohttp import web

from bot.storage.contests import period_start
from bot.web.pages import WebPages

PERIODS = {"all": "All time", "month": "This month"}


class LeaderboardPage:
    def __init__(self, pages: WebPages) -> None:
        self._pages = pages

    async def page(self, request: web.Request) -> web.Response:
        pages = self._pages
        who = await pages._signed_in(request)
        if isinstance(who, web.Response):
            return who
        member = await pages._member(request, who)
        guild = member.guild
        period = request.query.get("period", "all")
        period = period if period in PERIODS else "all"
        rows = await pages.repo.leaderboard(guild.id, period_start(period, time.time()))
        names = await pages.access.names(guild.id, [row.member_id for row in rows])
        board = [
            {
                "place": place,
                "name": names.get(row.member_id, "a member"),
                "member_id": row.member_id,
                "wins": row.wins,
                "podiums": row.podiums,
                "stars": row.stars,
                "songs": row.songs,
            }
            for place, row in enumerate(rows, 1)
        ]
        return pages._render(
            "leaderboard.html",
            request,
            who,
            guild={"id": guild.id, "name": guild.name},
            board=board,
            period=period,
            periods=PERIODS,
        )
