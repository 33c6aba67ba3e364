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


class ClaimLost(Exception):
    """The claim a piece of work was made under is gone: another process took the task over (this
    one stalled past its lease). The work stops where it is and writes nothing more."""


class Claims:
    """The task claims this process is working on right now, each with the epoch it was made under.

    The heartbeat renews exactly these, so a task this process gave up on (its hand-back failed
    while the database was away) runs out and is taken over by the next sweep, instead of being
    renewed for as long as the process lives. Memory only, by design: it describes this process's
    own coroutines, and everything another process needs is in the database.
    """

    def __init__(self) -> None:
        self._held: dict[int, int] = {}

    def hold(self, task_id: int, epoch: int) -> None:
        self._held[task_id] = epoch

    def drop(self, task_id: int, epoch: int) -> None:
        """Forget the claim, unless a newer one on the same task was taken meanwhile."""
        if self._held.get(task_id) == epoch:
            del self._held[task_id]

    def held(self) -> dict[int, int]:
        return dict(self._held)

    def __len__(self) -> int:
        return len(self._held)
