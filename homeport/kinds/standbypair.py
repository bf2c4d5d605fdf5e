"""StandbyPair: a production App and its warm standby on another Machine, with failover.

Names two Apps (``app.py``); ProxyRoutes (``proxyroute.py``) may point at the pair to
follow its current primary. Driven by ``reconcilers/standbypair.py`` and its probe loop.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from homeport.kinds.calendar import CalendarError, parse_calendar_event
from homeport.kinds.common import (
    DnsLabel,
    KindModel,
    ObjectRef,
    RefPath,
    Resource,
    SpecBase,
)
from homeport.kinds.textrules import UrlPath


class Probe(KindModel):
    """Health probe of the current primary, independent of the resync period."""

    path: UrlPath = "/healthz"
    """HTTP path probed on the primary's tailnet address and port (an RFC 3986 path)."""
    interval_seconds: PositiveFloat = 2.0
    """Time between probes."""
    timeout_seconds: PositiveFloat = 1.0
    """Timeout of one probe; a slow answer is a miss."""
    failure_threshold: PositiveInt = 3
    """Misses among the last `window` probes that start a failover (K of HAProxy's "K out
    of N"); with `window` unset, that many consecutive misses."""
    window: PositiveInt | None = None
    """How many of the latest probes are judged together (N). A primary that fails
    `failureThreshold` of them is down even if it answered in between, so one that flaps
    is failed over (the failover budget still stops ping-pong). Unset: `failureThreshold`
    (only consecutive misses count)."""

    @model_validator(mode="after")
    def _timeout(self) -> Probe:
        if self.timeout_seconds > self.interval_seconds:
            raise ValueError("probe timeoutSeconds must not exceed intervalSeconds")
        if self.window is not None and self.failure_threshold > self.window:
            raise ValueError(
                f"probe failureThreshold ({self.failure_threshold}) must not exceed window "
                f"({self.window}): it counts misses among the last `window` probes; "
                "raise window or lower failureThreshold"
            )
        return self

    @property
    def window_size(self) -> int:
        """N: the number of latest probes judged together."""
        return self.window or self.failure_threshold


class StorageReplication(KindModel):
    """Proxmox storage replication (pvesr) of the current primary's VM disks to the standby's
    node, on top of the App's own replication: if the primary's Machine is lost, its VM can
    be started on the standby's node from a replica at most one schedule old. ZFS
    (`zfspool`) storage only, as in Proxmox; the job follows the primary after a failover."""

    schedule: str = "*/15"
    """Proxmox calendar event of the syncs (Proxmox's default: every 15 minutes)."""
    rate_mbps: PositiveFloat | None = Field(default=None, alias="rateMBps")
    """Bandwidth limit in MB/s; unlimited when unset."""

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            parse_calendar_event(value)
        except CalendarError as exc:
            raise ValueError(str(exc)) from None
        return value


class Replication(KindModel):
    """How the primary's state reaches the standby."""

    method: Literal["rsync", "none"] = "rsync"
    """`rsync`: copy the App's data directory over SSH, VM to VM (the lag gates automatic
    promotion); `none`: a stateless App."""
    storage: StorageReplication | None = None
    """Also replicate the primary's VM disks with Proxmox storage replication (ZFS only);
    unset: no Proxmox replication job."""
    interval_seconds: PositiveFloat = 60.0
    """Time between syncs."""
    max_lag_seconds: PositiveFloat = 300.0
    """Largest replication lag allowed for an automatic promotion; beyond it the pair stalls
    and waits for `homeport failover PAIR --accept-data-loss`."""


class FailoverPolicy(KindModel):
    """When homeport fails over by itself."""

    mode: Literal["automatic", "manual"] = "automatic"
    """`automatic`: fence and promote on failure; `manual`: only report and wait for the CLI."""
    max_per_hour: PositiveInt = 3
    """Failover budget: more automatic failovers than this in an hour stall the pair (anti-flap)."""
    reset_standby_after_seconds: PositiveFloat | None = 120.0
    """A standby whose VM Proxmox reports running but whose guest does not answer (hung),
    failing every probe for this long, is stopped hard through Proxmox and started again
    (homeport owns it); at most once per this period. Unset: never, an operator resets it."""


class FailbackPolicy(KindModel):
    """What happens once the old primary is healthy again as the standby."""

    mode: Literal["manual", "automatic"] = "manual"
    """`manual`: stay on the new primary until `homeport failback PAIR`; `automatic`: switch
    back (planned, zero-loss switchover) after `afterHealthySeconds` of health."""
    after_healthy_seconds: PositiveFloat = 3600.0
    """For automatic failback: how long the original primary must have been healthy."""


class SelfFence(KindModel):
    """A lease the primary must hold to keep serving. homeport renews it over SSH every probe
    interval; a guard unit that homeport installs on both members stops the App once its
    lease has lapsed. So a primary that cannot be stopped (a hung VM whose stop Proxmox
    refuses) stops itself before it can answer again, and a quarantined primary is promoted
    over only after its lease expired. Needs the members' clocks in sync with the control
    plane's (NTP); see docs/failover.md for what it guarantees and what it does not."""

    enabled: bool = False
    """Install the guard and renew the primary's lease."""
    lease_seconds: PositiveFloat | None = None
    """How long one renewal holds; unset: the detection time (`probe.intervalSeconds` times
    `probe.failureThreshold`). At least two probe intervals, so one lost renewal is not a
    self-fence."""


class StandbyPairSpec(SpecBase):
    """Desired state of a StandbyPair."""

    primary: DnsLabel
    """The App that serves while healthy (the initial primary)."""
    standby: DnsLabel
    """The warm standby App, on a VM on another Machine, deployed at the same release."""
    probe: Probe = Field(default_factory=Probe)
    """Failure detection."""
    replication: Replication = Field(default_factory=Replication)
    """State replication from primary to standby."""
    failover: FailoverPolicy = Field(default_factory=FailoverPolicy)
    """Failover policy."""
    failback: FailbackPolicy = Field(default_factory=FailbackPolicy)
    """Failback policy."""
    self_fence: SelfFence = Field(default_factory=SelfFence)
    """Self-fencing lease of the primary (off by default)."""

    @model_validator(mode="after")
    def _distinct(self) -> StandbyPairSpec:
        if self.primary == self.standby:
            raise ValueError("primary and standby must be different Apps")
        lease = self.self_fence.lease_seconds
        if lease is not None and lease < 2 * self.probe.interval_seconds:
            raise ValueError(
                f"selfFence.leaseSeconds {lease:g} must be at least two probe intervals "
                f"({2 * self.probe.interval_seconds:g}s), or one lost renewal stops the primary"
            )
        return self

    def lease_seconds(self) -> float:
        """The self-fence lease: declared, else the detection time."""
        declared = self.self_fence.lease_seconds
        return declared or self.probe.interval_seconds * self.probe.failure_threshold


class StandbyPair(Resource):
    """A primary App and its warm standby."""

    kind_name: ClassVar[str] = "StandbyPair"
    plural: ClassVar[str] = "standbypairs"
    short_names: ClassVar[tuple[str, ...]] = ("standbypair", "pair", "sp")

    kind: Literal["StandbyPair"]
    """Always `StandbyPair`."""
    spec: StandbyPairSpec
    """Desired state."""

    def reference_paths(self) -> list[tuple[RefPath, ObjectRef]]:
        return [
            (("spec", "primary"), ObjectRef(kind="App", name=self.spec.primary)),
            (("spec", "standby"), ObjectRef(kind="App", name=self.spec.standby)),
        ]
