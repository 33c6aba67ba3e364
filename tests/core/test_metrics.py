"""Which Discord REST requests spend the bot token's global limit, as `musicbot_discord_global_requests` counts them."""

from __future__ import annotations

import pytest

from bot.core.metrics import Metrics, rest_limit


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/channels/{channel_id}/messages", "global"),
        ("/channels/{channel_id}/messages/{message_id}", "global"),
        ("/users/@me/channels", "global"),
        ("/webhooks/{webhook_id}", "global"),  # a webhook managed with the bot token
        ("/interactions/{interaction_id}/{interaction_token}/callback", "interaction"),
        ("/webhooks/{webhook_id}/{webhook_token}/messages/@original", "interaction"),
        ("/webhooks/{webhook_id}/{webhook_token}", "interaction"),
    ],
)
def test_interaction_token_requests_are_exempt(path: str, limit: str) -> None:
    assert rest_limit(path) == limit


def test_labelled_children_are_kept_and_count_into_the_registry() -> None:
    """The same child comes back for the same labels, and what it counts is what is exported."""
    metrics = Metrics()
    first = metrics.labelled(metrics.songs_delivered, "generate")
    assert metrics.labelled(metrics.songs_delivered, "generate") is first
    first.inc()
    metrics.labelled(metrics.songs_delivered, "extend").inc(2)
    text = metrics.render().decode()
    assert 'musicbot_songs_delivered_total{action="generate"} 1.0' in text
    assert 'musicbot_songs_delivered_total{action="extend"} 2.0' in text
