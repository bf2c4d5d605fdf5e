"""The daemon's settings: one TOML file (``--config`` or ``HOMEPORT_CONFIG``).

Typed, documented groups passed explicitly to the parts that need them (never globals).
Relative paths are resolved against the config file's directory. ``homeport sim up``
writes a complete one for the simulated estate.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_CONFIG_PATH = Path("/etc/homeport/homeport.toml")


class ConfigError(Exception):
    """The configuration file is missing or invalid; the message says what to fix."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class StoreSettings(Section):
    path: Path = Path("/var/lib/homeport/state.db")
    """SQLite file holding objects, revisions, events, the journal and failover history."""


class SourceSettings(Section):
    repo: Path | None = None
    """The control plane's bare git repository (created by `homeport init`)."""
    branch: str = "main"
    """Branch whose commits are adopted."""
    path: str = "."
    """Folder inside the repository holding the manifests."""
    directory: Path | None = None
    """A plain directory of manifests instead of a repository (for trying things out)."""
    poll_interval: float = 30.0
    """Safety-net poll of the refs, in seconds, in case a hook or a file event was missed."""
    max_prune_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    """A revision removing more than this share of the estate at once is held for approval."""

    @model_validator(mode="after")
    def _one_source(self) -> SourceSettings:
        if self.repo is None and self.directory is None:
            raise ValueError("set [source] repo (a bare git repository) or directory")
        return self


class ControllerSettings(Section):
    concurrency: int = Field(default=8, ge=1)
    """Reconciles running at once (one per object at most)."""
    resync_interval: float = 60.0
    """Every object is reconciled at least this often, in seconds."""
    backoff_base: float = 1.0
    """First retry delay after an error, in seconds; doubles on every further error."""
    backoff_max: float = 300.0
    """Longest retry delay, in seconds."""
    backoff_jitter: float = Field(default=0.1, ge=0.0, le=1.0)
    """Random spread of retry delays (0.1 = ±10 %), so retries do not synchronise."""
    vmid_min: int = 1000
    """Lowest VMID homeport allocates for VMs without an explicit vmid."""
    vmid_max: int = 1999
    """Highest VMID homeport allocates."""
    drain_timeout: float = 30.0
    """On SIGTERM, how long running reconciles may take to finish before exiting."""


class SecretsSettings(Section):
    directory: Path = Path("/etc/homeport/secrets")
    """Where secret files live on the control plane (never in git); referenced by Apps."""


class ProxmoxSettings(Section):
    host: str = "127.0.0.1"
    """Proxmox API host (any node of the cluster)."""
    port: int = 8006
    """Proxmox API port."""
    user: str = "homeport@pve"
    """API user, with realm."""
    token_name: str = "homeport"
    """API token id."""
    token_file: Path = Path("/etc/homeport/proxmox-token")
    """File holding the token secret (a UUID)."""
    ca_file: Path | None = None
    """CA bundle to verify the API's TLS certificate (system CAs when unset)."""
    timeout: float = 10.0
    """Timeout of one API request, in seconds."""
    concurrency: int = 8
    """API requests in flight at once."""


class SSHSettings(Section):
    user: str = "root"
    """User homeport logs in as on VMs (its key is installed by cloud-init)."""
    port: int = 22
    """SSH port of the VMs."""
    key_file: Path = Path("/etc/homeport/ssh/id_ed25519")
    """homeport's private key (its public half is given to every VM through cloud-init)."""
    known_hosts: Path = Path("/var/lib/homeport/known_hosts")
    """Strict known_hosts; host keys of new VMs are pinned through the Proxmox guest agent."""
    connect_timeout: float = 5.0
    """Timeout to connect and authenticate, in seconds."""
    command_timeout: float = 120.0
    """Default timeout of one remote command, in seconds."""


class CaddySettings(Section):
    admin_url: str = "http://127.0.0.1:2019"
    """Caddy's admin API on the router VM (reachable over the tailnet only)."""
    server: str = "homeport"
    """Name of the HTTP server block homeport owns in Caddy's config."""
    https_listen: list[str] = Field(default_factory=lambda: [":443"])
    """Addresses of the HTTPS listener."""
    http_listen: list[str] = Field(default_factory=lambda: [":80"])
    """Addresses of the plain-HTTP listener (redirects to HTTPS)."""
    tls: Literal["acme", "internal", "off"] = "acme"
    """Certificates: `acme` (public), `internal` (Caddy's local CA: demo, tests), `off` (tests)."""
    acme_email: str | None = None
    """Contact address for ACME."""


class TailscaleSettings(Section):
    api_url: str = "https://api.tailscale.com"
    """Tailscale API base URL."""
    tailnet: str = "-"
    """Tailnet name (`-` = the token's default tailnet)."""
    token_file: Path = Path("/etc/homeport/tailscale-token")
    """File holding the API access token."""
    auth_key_expiry: int = 3600
    """Lifetime, in seconds, of the one-off auth keys created for new VMs."""


class GitSettings(Section):
    url_rewrites: dict[str, str] = Field(default_factory=dict)
    """Prefix rewrites applied to App repositories when VMs clone them, like git's
    `url.<base>.insteadOf` (e.g. a local mirror for `https://git.example.com/`)."""


class CoordinationSettings(Section):
    backend: Literal["local", "etcd"] = "local"
    """`local`: a lease row in the store; `etcd`: a real etcd cluster."""
    lease_duration: float = 15.0
    """How long leadership lasts without renewal, in seconds."""
    renew_interval: float = 5.0
    """How often the leader renews, in seconds."""
    identity: str | None = None
    """Name of this control plane (default: hostname and pid)."""


class TelemetrySettings(Section):
    traces: Literal["none", "console", "otlp"] = "none"
    """Where spans go."""
    metrics: Literal["none", "console", "otlp", "prometheus"] = "none"
    """Where metrics go."""
    otlp_endpoint: str | None = None
    """OTLP/HTTP endpoint, e.g. `http://127.0.0.1:4318`."""
    prometheus_listen: str = "127.0.0.1:9464"
    """Prometheus scrape address: localhost or the tailnet address only."""
    log_format: Literal["text", "json"] = "text"
    """Structured log output of the daemon."""


class Settings(Section):
    """The whole configuration."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    source: SourceSettings
    controller: ControllerSettings = Field(default_factory=ControllerSettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    proxmox: ProxmoxSettings = Field(default_factory=ProxmoxSettings)
    ssh: SSHSettings = Field(default_factory=SSHSettings)
    caddy: CaddySettings = Field(default_factory=CaddySettings)
    tailscale: TailscaleSettings = Field(default_factory=TailscaleSettings)
    git: GitSettings = Field(default_factory=GitSettings)
    coordination: CoordinationSettings = Field(default_factory=CoordinationSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)


def _absolute(settings: Settings, base: Path) -> Settings:
    """Make every Path field absolute relative to ``base`` (the config file's folder)."""

    def fix(section: BaseModel) -> BaseModel:
        updates: dict[str, Any] = {}
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, Path) and not value.is_absolute():
                updates[name] = (base / value).resolve()
            elif isinstance(value, BaseModel):
                updates[name] = fix(value)
        return section.model_copy(update=updates)

    fixed = fix(settings)
    assert isinstance(fixed, Settings)
    return fixed


def config_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get("HOMEPORT_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG_PATH


def load_settings(path: Path) -> Settings:
    """Read and validate a TOML config; raise ConfigError with the file and the fix."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file (pass --config or set HOMEPORT_CONFIG)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"[{'.'.join(str(p) for p in e['loc'])}] {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
    return _absolute(settings, path.parent.resolve())
