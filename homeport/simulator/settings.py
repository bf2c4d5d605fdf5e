"""How the simulated cluster is shaped and how long things take in it.

Plain, documented dataclasses passed explicitly: `simulator.ProxmoxSimulator` builds the
world (`pve.world`) from a `SimulatorConfig`; every operation in `pve.*` reads its simulated
durations from `Timings`. All durations are simulated seconds (`clock.SimClock`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

GIB = 1 << 30
TIB = 1 << 40


@dataclass(frozen=True)
class Timings:
    """Simulated seconds each kind of work takes (PVE-like orders of magnitude)."""

    full_clone_per_32g: float = 20.0
    """A full clone copies 32 GiB of virtual disk in this long (scaled by disk size)."""
    linked_clone: float = 1.0
    """A linked clone (thin snapshot of a template's base volume)."""
    create: float = 1.0
    """`qmcreate`: allocate volumes and write the config."""
    config_task: float = 0.2
    """`qmconfig` (POST config) and `qmtemplate`-style bookkeeping tasks."""
    start: float = 1.0
    """`qmstart` until the QEMU process runs (the guest still has to boot)."""
    guest_boot: float = 5.0
    """From QEMU start until the guest agent answers and the guest runtime boots."""
    stop: float = 0.5
    """`qmstop` (hard stop)."""
    shutdown: float = 3.0
    """A cooperative guest needs this long for an ACPI shutdown."""
    destroy: float = 1.0
    """`qmdestroy`: free volumes and remove the config."""
    resize: float = 0.5
    """`resize` of one disk."""
    template: float = 1.0
    """`qmtemplate`: rename volumes to base-*."""
    backup_per_gib: float = 0.5
    """vzdump reads this long per GiB of used guest data."""
    backup_min: float = 3.0
    """A vzdump of one guest never takes less than this."""
    restore_per_32g: float = 15.0
    """`qmrestore` writes 32 GiB of virtual disk in this long."""
    migrate_per_32g: float = 30.0
    """Migrating local disks (not replicated to the target) copies 32 GiB this fast."""
    migrate_base: float = 3.0
    """Fixed cost of a migration (prepare, memory transfer of an online migration)."""
    replication: float = 3.0
    """One incremental `pvesr` sync."""
    ha_round: float = 10.0
    """The HA CRM/LRM work loop period."""
    node_offline_after: float = 10.0
    """The cluster marks a crashed or partitioned node offline after this long."""
    node_boot: float = 30.0
    """A recovered node needs this long before it starts its `onboot` guests."""
    agent_timeout: float = 3.0
    """A guest-agent command waits this long before `QEMU guest agent is not running`."""
    lock_timeout: float = 10.0
    """`lock_config` flock timeout."""
    clone_lock_timeout: float = 1.0
    """The clone worker's flock timeout on source and target."""
    create_lock_timeout: float = 5.0
    """`create_and_lock_config` flock timeout."""
    no_such_task_window: float = 1.0
    """Chaos mode: how long a new task answers `no such task`."""


@dataclass(frozen=True)
class ApiToken:
    """`PVEAPIToken=userid!tokenid=secret`."""

    userid: str
    tokenid: str
    secret: str

    @property
    def full_id(self) -> str:
        return f"{self.userid}!{self.tokenid}"

    @property
    def header(self) -> str:
        return f"PVEAPIToken={self.full_id}={self.secret}"


@dataclass(frozen=True)
class NodeSpec:
    """One physical host."""

    name: str
    maxcpu: int = 16
    maxmem: int = 64 * GIB
    rootfs: int = 100 * GIB
    local_lvm: int = 2 * TIB  # `local-lvm`; the seeded `local-zfs` gets the same size


def node_specs(count: int, prefix: str = "pve") -> tuple[NodeSpec, ...]:
    """`pve1` .. `pveN` with default capacity."""
    return tuple(NodeSpec(f"{prefix}{i}") for i in range(1, count + 1))


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes one simulated Proxmox VE cluster."""

    nodes: tuple[NodeSpec, ...] = (NodeSpec("pve1"), NodeSpec("pve2"), NodeSpec("pve3"))
    """Cluster members, in corosync node-id order."""
    seed: int = 0
    """Seeds every random choice (MACs, UUIDs, PIDs, fault probabilities)."""
    time_scale: float = 1.0
    """Simulated seconds per wall second."""
    start_epoch: float | None = None
    """Simulated time at first start (default: the wall clock); restarts resume saved time."""
    state_dir: Path | None = None
    """Where state (`pve-state.json`), PKI and backup archives live; None: a temp dir."""
    pki_dir: Path | None = None
    """Where the CA and server certificate live (default: `state_dir/pki`)."""
    address_octet: int = 0
    """Second octet of the guests' loopback addresses (127.<octet>.x.y), so that several
    simulated estates on one machine (parallel test runs) never share an address."""
    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port."""
    tokens: tuple[ApiToken, ...] | None = None
    """API tokens; None: one `homeport@pve!homeport` token with a seeded secret."""
    users: dict[str, str] = field(default_factory=lambda: {"root@pam": "simulator"})
    """Password logins for `POST /access/ticket`."""
    cluster_name: str = "homeport-sim"
    shared_storage: bool = True
    """Add the shared NFS storage `nas` that holds template 9000 (see docs/simulator.md)."""
    auth_failure_delay: float = 0.0
    """Wall seconds before a 401 (real PVE: 3)."""
    timings: Timings = field(default_factory=Timings)
    persist_interval: float = 0.25
    """Wall seconds between state writes while the world keeps changing."""
    task_archive_per_node: int = 2000
    """Finished tasks kept per node (memory bound)."""


SAMPLE_APPS = ("shop", "community", "sessions")


@dataclass(frozen=True)
class EstateConfig:
    """A whole simulated estate (``estate.SimulatedEstate``): its nodes, clock and parts."""

    state_dir: Path
    nodes: int = 3
    seed: int = 0
    time_scale: float = 1.0
    timings: Timings = field(default_factory=Timings)
    ssh_port: int = 2222
    caddy: bool = True
    tls: str = "internal"
    """`internal` (Caddy's local CA, HTTPS on loopback) or `off` (plain HTTP)."""
    apps: tuple[str, ...] = SAMPLE_APPS
    start_epoch: float | None = None
    """Simulated time at the first start (default: now); e.g. a date before a month end."""
    address_octet: int | None = None
    """Second octet of every simulated address (127.<octet>.x.y); None: a free one, kept
    in the state directory so a restarted estate keeps its addresses."""
