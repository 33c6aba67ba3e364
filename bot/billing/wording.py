"""What managers and members read about paying for songs (catalog messages, `N_`: translated where they are sent)."""

from __future__ import annotations

from bot.i18n import N_

CANNOT_STORE = N_(
    "This bot cannot keep API keys yet: its owner must set SECRET_KEY (`python -m bot keygen` prints one) "
    "and restart it. Nothing was stored."
)
KEY_SAVED = N_("Saved. Songs in this server are now paid with your own Producer API key ({hint}).")
KEY_CLEARED = N_("Removed this server's own API key. {who}")
KEY_CLEARED_OWNER_PAYS = N_("Songs are paid by the bot's owner again, within the bot's daily allowance.")
KEY_CLEARED_REQUIRED = N_("This bot needs a server's own key, so no songs can be made until a new one is added.")
KEY_REFUSED = N_("The music service refused that key ({code}), so it was not saved. Copy it again and retry.")
KEY_UNCHECKED = N_(
    "The music service could not be reached to check that key ({code}); nothing was saved. Try again soon."
)
KEY_MALFORMED = N_("That does not look like a Producer API key (no spaces, 8 to 200 characters). Nothing was saved.")
BUDGET_ALERT = N_(
    "This server has used {per_cent} % of its monthly budget for songs: {used} of {budget} credits in {month}."
)
BUDGET_SPENT = N_("New songs are refused until the budget starts again on <t:{reset}:D>, or a manager raises it.")
KEY_REFUSED_ALERT = N_(
    "The music service refused this server's own Producer API key ({hint}, {code}), so songs in this server "
    "are paused (members' credits are refunded). If it ran out of credit, top it up at "
    "https://platform.acedata.cloud; either way, save the key again with `/settings api_key:True` to resume. "
    "I will not message you again about it until then."
)
ALERT_FOOTER = N_("(From the music bot in {guild}.)")
