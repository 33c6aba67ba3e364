"""Paying for songs: who pays for a server's songs, how far it may go, and what it spent.

Owns `keys.KeyStore` (a server's own Producer API key: checked, stored encrypted with
`SECRET_KEY`, handed to `ProducerClient` for every request made for that server, paused when the
API refuses it), `alerts.BillingAlerts` (the managers' budget and refused-key alerts, done from the
outbox), `usage` (what a server spent, `/usage` and `python -m bot usage`), `chart` (the `/usage`
picture, drawn with matplotlib), `wording` (what managers and members read) and `service.Billing`
(the one object the bot builds). The charge itself (budgets, role caps) is in `bot.storage.billing`
and `bot.songs.quota`, inside the quota's transaction.

May import `bot.core`, `bot.producer`, `bot.storage`, `bot.cluster` and `bot.access`; never
`bot.songs` (beside it): the bot wires the two together.
"""
