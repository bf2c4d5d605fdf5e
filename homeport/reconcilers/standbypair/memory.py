"""What a StandbyPair remembers across reconciles and crashes (the store's ``memory``).

The epoch (fencing token) only ever increases; ``phase`` names the step a failover is in,
so a restarted daemon resumes exactly there; ``failover`` is the timeline being written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

HEALTHY = "Healthy"
FENCING = "Fencing"
PROMOTING = "Promoting"
REROUTING = "Rerouting"
DEGRADED = "Degraded"
IN_FLIGHT = (FENCING, PROMOTING, REROUTING)
CHANNEL = "restricted-epoch-v1"
"""Per-pair, per-direction key, forced receive wrapper, epoch-fenced (``replkeys.py``)."""


@dataclass
class PairMemory:
    primary: str
    standby: str
    epoch: int = 1
    phase: str = HEALTHY
    failover: dict[str, Any] | None = None
    """The failover in progress: epoch, trigger, from/to, steps [{phase, at, detail}]."""
    quarantine: dict[str, Any] | None = None
    """An old primary that could not be stopped (node unreachable): stop it first on return."""
    last_sync: str | None = None
    last_sync_error: str | None = None
    automatic_failovers: list[str] = field(default_factory=list)
    """Timestamps of automatic failovers (the failover budget counts the last hour)."""
    replication_keys: list[str] = field(default_factory=list)
    """The (primary, standby) Apps whose VMs hold the replication key."""
    replication_channel: str = ""
    self_fence_on: list[str] = field(default_factory=list)
    """Apps whose VMs run the self-fence guard (``selffence.py``); the primary's is renewed."""
    """Which kind of channel they hold (``replkeys.CHANNEL``); an older one is set up anew."""
    established: bool = False
    """Both members were healthy (and synced) once; before that nothing fails over."""
    standby_reset_at: str | None = None
    """When homeport last reset a hung standby's VM (``hungstandby.py``)."""

    @classmethod
    def load(cls, data: dict[str, Any], *, primary: str, standby: str) -> PairMemory:
        if not data:
            return cls(primary=primary, standby=standby)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def channel_ready(self) -> bool:
        """The replication channel runs primary → standby, of the current kind."""
        return (
            self.replication_keys == [self.primary, self.standby]
            and self.replication_channel == CHANNEL
        )

    def dump(self) -> dict[str, Any]:
        return asdict(self)
