"""StandbyPair: a production App and its warm standby on another Machine, with failover.

Names two Apps (``app.py``); ProxyRoutes (``proxyroute.py``) may point at the pair to
follow its current primary. Driven by ``reconcilers/standbypair.py`` and its probe loop.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, ClassVar, Literal

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from homeport.kinds.calendar import CalendarError, parse_calendar_event
from homeport.kinds.common import (
    DnsLabel,
    KindModel,
    ObjectRef,
    RefPath,
    Resource,
    SpecBase,
)
from homeport.kinds.textrules import UrlPath, check_one_line

PORT_MAX = 65535
ProbeKind = Literal["http", "tcp", "exec"]
PROBE_KINDS: tuple[ProbeKind, ...] = ("http", "tcp", "exec")


class HttpProbe(KindModel):
    """An HTTP GET on the member's tailnet address and App port; passes on the App's
    `healthCheck.expectStatus` within the probe timeout."""

    path: UrlPath = "/healthz"
    """HTTP path probed (an RFC 3986 path)."""


class TcpProbe(KindModel):
    """A TCP connect to the member's tailnet address; passes when the port accepts the
    connection within the probe timeout (for an App that does not speak HTTP: a database,
    an MQTT broker). Only proves the kernel accepts connections for the port: an App that
    hangs while its process stays alive still passes (use `exec` for a check in its own
    protocol)."""

    port: Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": PORT_MAX})]
    """TCP port to connect to (1-65535), usually the App's `port`."""

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        if isinstance(value, bool) or not 1 <= value <= PORT_MAX:
            raise ValueError(
                f"probe port {value} is out of range: give a TCP port from 1 to {PORT_MAX}, "
                "usually the App's port"
            )
        return value


class ExecProbe(KindModel):
    """A command run on the member's VM over SSH (homeport's key, strict known_hosts);
    passes when it exits 0 within the probe timeout. Given as an argument list, never as
    a shell line: each element reaches the VM as one argument, quoted by homeport."""

    command: Annotated[
        list[str],
        WithJsonSchema({"type": "array", "items": {"type": "string"}, "minItems": 1}),
    ]
    """The program (an absolute path) and its arguments, e.g.
    `[/usr/bin/pg_isready, -h, 127.0.0.1, -q]`."""

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str]) -> list[str]:
        if not value or not value[0].strip():
            raise ValueError(
                "probe exec command is empty: give the program's absolute path and its "
                "arguments as a list, e.g. [/usr/bin/pg_isready, -q]"
            )
        for argument in value:
            check_one_line(argument, "probe exec argument")
        program = value[0]
        if not program.startswith("/") or posixpath.normpath(program) != program:
            raise ValueError(
                f"probe exec program {program!r} is not a normalised absolute path: name it "
                f"by its full path on the VM, e.g. '/usr/bin/{posixpath.basename(program)}' "
                "(a relative name would depend on the login's PATH)"
            )
        return value


class Probe(KindModel):
    """Health probe of both members, independent of the resync period: exactly one of
    `http`, `tcp` and `exec`. Without any, an HTTP probe of `path` (the form older
    manifests use), judged as the App's own `healthCheck` judges (a `tcp` health check
    then connects to the App's port)."""

    http: HttpProbe | None = None
    """Probe with an HTTP GET."""
    tcp: TcpProbe | None = None
    """Probe with a TCP connect."""
    exec_: ExecProbe | None = Field(default=None, alias="exec")
    """Probe with a command on the member's VM."""
    path: UrlPath | None = None
    """The older spelling of `http.path` (default `/healthz`); give one of them, not both."""
    interval_seconds: PositiveFloat = 2.0
    """Time between probes."""
    timeout_seconds: PositiveFloat = 1.0
    """Timeout of one probe; a slow answer is a miss. For `exec` it covers the SSH round
    trip too, and the command is also run under `timeout` on the VM so it never lingers."""
    failure_threshold: PositiveInt = 3
    """Misses among the last `window` probes that start a failover (K of HAProxy's "K out
    of N"); with `window` unset, that many consecutive misses."""
    window: PositiveInt | None = None
    """How many of the latest probes are judged together (N). A primary that fails
    `failureThreshold` of them is down even if it answered in between, so one that flaps
    is failed over (the failover budget still stops ping-pong). Unset: `failureThreshold`
    (only consecutive misses count)."""

    @model_validator(mode="after")
    def _consistent(self) -> Probe:
        declared = self.declared_kinds()
        if len(declared) > 1:
            named = ["path" if k == "http" and self.http is None else k for k in declared]
            raise ValueError(
                f"probe declares {len(declared)} kinds ({', '.join(named)}): give exactly "
                "one of http, tcp and exec (path is the older spelling of http.path)"
            )
        if self.http is not None and self.path is not None:
            raise ValueError(
                "probe gives both path and http.path: keep http.path (path is the older "
                "spelling of the same)"
            )
        if self.timeout_seconds > self.interval_seconds:
            raise ValueError("probe timeoutSeconds must not exceed intervalSeconds")
        if self.window is not None and self.failure_threshold > self.window:
            raise ValueError(
                f"probe failureThreshold ({self.failure_threshold}) must not exceed window "
                f"({self.window}): it counts misses among the last `window` probes; "
                "raise window or lower failureThreshold"
            )
        return self

    def declared_kinds(self) -> list[ProbeKind]:
        """The kinds the manifest names (``path`` counts as ``http``)."""
        http = self.http is not None or self.path is not None
        found = {"http": http, "tcp": self.tcp is not None, "exec": self.exec_ is not None}
        return [kind for kind in PROBE_KINDS if found[kind]]

    @property
    def kind(self) -> ProbeKind:
        """How the members are probed (``http`` when nothing else is declared)."""
        declared = self.declared_kinds()
        return declared[0] if declared else "http"

    @property
    def http_path(self) -> str:
        """The HTTP path probed, wherever it was declared."""
        if self.http is not None:
            return self.http.path
        return self.path or HttpProbe().path

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
