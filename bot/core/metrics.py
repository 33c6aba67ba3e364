"""Prometheus metrics (`GET /metrics`, on when `METRICS=true`), through `prometheus-client`.

Each bot has its own registry, so several bots in one process (the tests) never share counts.
Counters are bumped where the event happens; gauges that describe the database (queue length,
songs in progress) and the gateway latency are read when Prometheus scrapes, so they are never
stale and survive restarts.
"""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Seconds: an acknowledgement should land well under 3 s (Discord's limit); a delivery takes a few
seconds for the download and upload, longer under rate limits."""


def rest_limit(route_path: str) -> str:
    """Which of Discord's REST limits a request (by its route template) counts against: interaction
    callbacks and webhook-token requests (follow-ups, edits of the original response) are exempt
    from the global one."""
    if route_path.startswith("/interactions/") or route_path.startswith("/webhooks/{webhook_id}/{webhook_token}"):
        return "interaction"
    return "global"


class Metrics:
    """Every metric the bot exports. Cheap when `METRICS` is off: nothing ever scrapes it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[Counter, tuple[str, ...]], Counter] = {}
        r = self.registry
        self.songs_requested = Counter(
            "musicbot_songs_requested",
            "Songs members asked for (charged and queued), by action.",
            ["action"],
            registry=r,
        )
        self.songs_delivered = Counter(
            "musicbot_songs_delivered",
            "Requests whose songs were posted in Discord, by action.",
            ["action"],
            registry=r,
        )
        self.songs_failed = Counter(
            "musicbot_songs_failed", "Requests that ended in failure (refunded), by action.", ["action"], registry=r
        )
        self.refunds = Counter("musicbot_refunds", "Requests whose credits were given back.", registry=r)
        self.queue_length = Gauge("musicbot_queue_length", "Songs waiting in line, all servers.", registry=r)
        self.songs_in_progress = Gauge(
            "musicbot_songs_in_progress", "Songs sent to the API and not yet posted or failed.", registry=r
        )
        self.callbacks = Counter(
            "musicbot_callbacks", "Callbacks received from the Producer API, by outcome.", ["outcome"], registry=r
        )
        self.polls = Counter("musicbot_polls", "Requests to /producer/tasks (polling and look-ups).", registry=r)
        self.api_errors = Counter(
            "musicbot_api_errors", "Failed Producer API requests, by error code.", ["code"], registry=r
        )
        self.discord_errors = Counter(
            "musicbot_discord_errors", "Failed Discord REST requests, by HTTP status.", ["status"], registry=r
        )
        self.discord_global_requests = Counter(
            "musicbot_discord_global_requests",
            "Discord REST requests that count against the bot token's global limit (50 a second, shared "
            "by every process); interaction-token requests are exempt and not counted.",
            registry=r,
        )
        self.delivery_latency = Histogram(
            "musicbot_delivery_latency_seconds",
            "From the result arriving (callback or poll) to the song posted in Discord.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.command_ack_latency = Histogram(
            "musicbot_command_ack_latency_seconds",
            "From a member's song command (Discord's timestamp) to the bot's acknowledgement.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.gateway_latency = Gauge(
            "musicbot_gateway_latency_seconds",
            "Heartbeat round trip to Discord's gateway, by shard.",
            ["shard"],
            registry=r,
        )

    def labelled(self, metric: Counter, *values: str) -> Counter:
        """`metric.labels(*values)`, kept: prometheus-client validates and takes a lock on every
        `labels` call (about 10 µs), which a burst of charges or callbacks would pay per event. The
        label values used here (actions, outcomes, codes, statuses) are few, so this stays small."""
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def set_gateway_latencies(self, latencies: list[tuple[int, float]]) -> None:
        for shard, latency in latencies:
            if math.isfinite(latency):
                self.gateway_latency.labels(str(shard)).set(latency)

    def render(self) -> bytes:
        """The text exposition format Prometheus scrapes."""
        return generate_latest(self.registry)
