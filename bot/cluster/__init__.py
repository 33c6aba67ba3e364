"""What several processes of one bot agree on through the database.

Owns a process's identity and its claims on work (`leases`: `instance_id`, `Leases`) and the
cluster-wide IDENTIFY slots that space gateway logins across processes (`identify`). The lease
rows themselves live in `bot.storage`. May import `bot.core` and `bot.storage`.
"""
