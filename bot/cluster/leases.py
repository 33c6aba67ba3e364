"""How a process names itself and claims work in the shared database.

Every claim on a task carries this process's `instance_id` in `lease_owner` and an expiry; a
process that dies or stalls loses its work to another once the lease runs out.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass


def instance_id() -> str:
    """A name for this process that no other process, here or on another host, will have."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Leases:
    """How this process claims work in the shared database."""

    owner: str
    """This process's name in `lease_owner` columns (see `instance_id`)."""
    ttl: float = 30.0
    """Seconds a claim lasts without renewal: how long a dead process's work waits for another."""
    shared: bool = False
    """Other live processes use this database (SHARD_IDS is set). When False, every lease in the
    database was this process's own in an earlier life, so start-up takes all of them back at once."""
