"""The daemon's settings: one TOML file (``--config`` or ``HOMEPORT_CONFIG``).

Typed, documented groups passed explicitly to the parts that need them (never globals).
Relative paths are resolved against the config file's directory. ``homeport sim up``
writes a complete one for the simulated estate.

``load_settings`` validates the whole file (the daemon, and every command that acts);
``load_read_settings`` only the sections the read commands use. The models build their
validators on first use (``defer_build``): importing this module builds none, and a read
builds only its own.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from homeport.controller.listen import scrape_address

DEFAULT_CONFIG_PATH = Path("/etc/homeport/homeport.toml")


class ConfigError(Exception):
    """The configuration file is missing or invalid; the message says what to fix."""


class Section(BaseModel):
    # Validators are built at first use: importing this module builds none of the 23
    # models, and a read command builds only its two sections (load_read_settings).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


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
    peers: dict[str, str] = Field(default_factory=dict)
    """Other control planes' repositories (name = git URL, e.g. `ssh://cp2/srv/homeport/estate.git`):
    every push is mirrored to them, and they are fetched from to catch up (docs/ha.md)."""
    peer_fetch_interval: float = Field(default=15.0, gt=0.0)
    """Seconds between fetches from the peers (also done at start)."""

    @model_validator(mode="after")
    def _one_source(self) -> SourceSettings:
        if self.repo is None and self.directory is None:
            raise ValueError("set [source] repo (a bare git repository) or directory")
        return self


class SignaturesSettings(Section):
    """Signed revisions (docs/security.md#signed-revisions): which commits may reach production."""

    policy: Literal["off", "tip", "every-commit"] = "off"
    """`off`; `tip`: the revision adopted must be signed by a trusted key; `every-commit`:
    every commit since the adopted one too. The pre-receive hook and the daemon enforce the
    stricter of this and the repository's own (`homeport init --require-signatures`)."""
    allowed_signers: Path | None = None
    """git's SSH allowed signers file (`gpg.ssh.allowedSignersFile`): one `principal key`
    per line. Read at every push and adoption: edits count from the next push on."""
    gpg_home: Path | None = None
    """A GnuPG home whose keyring holds the trusted OpenPGP keys (every key in it is trusted)."""

    @model_validator(mode="after")
    def _keys(self) -> SignaturesSettings:
        if self.policy != "off" and self.allowed_signers is None and self.gpg_home is None:
            raise ValueError(f"policy {self.policy!r} needs allowed_signers and/or gpg_home")
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


class BackupsSettings(Section):
    scratch_vmid_min: int = 9900
    """Lowest VMID of the scratch VMs restore tests restore into (keep it apart from vmid_min..max)."""
    scratch_vmid_max: int = 9999
    """Highest scratch VMID."""
    health_source: str | None = None
    """CIDR the control plane's health checks come from; the only source a scratch VM's
    firewall admits (to the Apps' ports). None admits those ports from anywhere on its LAN."""


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
    tailnet_listen: list[str] = Field(default_factory=list)
    """The router's tailnet address and port (e.g. `100.64.0.1:443`) for ProxyRoutes with
    `exposure: tailnet`; a second server block listens only there
    (docs/operations.md#internal-only-routes)."""

    tls: Literal["acme", "internal", "off"] = "acme"
    """Certificates: `acme` (public), `internal` (Caddy's local CA: demo, tests), `off` (tests)."""
    acme_email: str | None = None
    """Contact address for ACME."""

    @field_validator("tailnet_listen")
    @classmethod
    def _tailnet_only(cls, value: list[str]) -> list[str]:
        for address in value:
            host = address.rpartition(":")[0].strip("[]")
            if host in ("", "0.0.0.0", "::"):
                raise ValueError(
                    f"tailnet_listen {address!r} listens on every address, the public one "
                    "included: name the router's tailnet address, e.g. '100.64.0.1:443'"
                )
        return value


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


ETCD_LEASE_DURATION = 6.0
ETCD_RENEW_INTERVAL = 2.0


class CoordinationSettings(Section):
    """Who acts: one daemon (`local`) or one of several control planes (`etcd`, docs/ha.md)."""

    backend: Literal["local", "etcd"] = "local"
    """`local`: a lease row in the store; `etcd`: a real etcd cluster."""
    lease_duration: float = Field(default=15.0, gt=0.0)
    """How long leadership lasts without renewal, in seconds (default 15 with `local`,
    6 with `etcd`: a dead leader is replaced within about this long)."""
    renew_interval: float = Field(default=5.0, gt=0.0)
    """How often the leader renews, in seconds (default 5 with `local`, 2 with `etcd`). The
    leader stops acting one renew interval before its lease could expire."""
    identity: str | None = None
    """Name of this control plane (default: hostname and pid)."""
    endpoints: list[str] = Field(default_factory=list)
    """`etcd`: client URLs of the members, e.g. `https://10.0.0.1:2379` (one per member)."""
    prefix: str = "/homeport"
    """`etcd`: key prefix of this estate's shared state (several estates may share a cluster)."""
    ca_file: Path | None = None
    """`etcd`: CA bundle that signed the members' certificates (system CAs when unset)."""
    cert_file: Path | None = None
    """`etcd`: this control plane's client certificate (`--client-cert-auth` on the members)."""
    key_file: Path | None = None
    """`etcd`: the client certificate's private key."""
    username: str | None = None
    """`etcd`: user for etcd's own authentication (none when unset)."""
    password_file: Path | None = None
    """`etcd`: file holding that user's password (never in this file)."""
    timeout: float = Field(default=2.0, gt=0.0)
    """`etcd`: seconds per request to one member before trying the next."""

    @model_validator(mode="before")
    @classmethod
    def _etcd_defaults(cls, data: Any) -> Any:
        # Seconds-level takeover needs a short lease; the store lease keeps its own defaults.
        if isinstance(data, dict) and data.get("backend") == "etcd":
            data = {
                "lease_duration": ETCD_LEASE_DURATION,
                "renew_interval": ETCD_RENEW_INTERVAL,
                **data,
            }
        return data

    @model_validator(mode="after")
    def _consistent(self) -> CoordinationSettings:
        if self.backend != "etcd":
            return self
        if self.renew_interval * 2 > self.lease_duration:
            # The leader acts from a renewal until one renew interval before expiry.
            raise ValueError("renew_interval must be at most half of lease_duration")
        if not self.endpoints:
            raise ValueError('backend = "etcd" needs endpoints (the members\' client URLs)')
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("set both cert_file and key_file, or neither")
        if self.username is not None and self.password_file is None:
            raise ValueError("username needs password_file")
        return self


class TelemetrySettings(Section):
    traces: Literal["none", "console", "otlp"] = "none"
    """Where spans go."""
    metrics: Literal["none", "console", "otlp", "prometheus"] = "none"
    """Where metrics go."""
    otlp_endpoint: str | None = None
    """OTLP/HTTP endpoint, e.g. `http://127.0.0.1:4318`."""
    prometheus_listen: str = "127.0.0.1:9464"
    """Prometheus scrape address: localhost or the tailnet address only."""

    @field_validator("prometheus_listen")
    @classmethod
    def _scrape_address(cls, value: str) -> str:
        scrape_address(value)  # metrics name the whole estate: never on a public interface
        return value

    log_format: Literal["text", "json"] = "text"
    """Structured log output of the daemon."""


class WebSettings(Section):
    """The read-only status page the daemon serves (docs/operations.md#the-status-page),
    with `/healthz` and `/readyz`."""

    enabled: bool = True
    """Serve the page (false: no listener at all)."""
    listen: str = "127.0.0.1:8765"
    """Address of the page: localhost or this machine's tailnet address only (`:0` picks a
    free port; `homeport status` prints the URL in use)."""

    @field_validator("listen")
    @classmethod
    def _page_address(cls, value: str) -> str:
        scrape_address(value, setting="[web] listen", any_port=True)
        return value


class FirewallSettings(Section):
    """Where the VM firewall rules homeport derives let traffic in from (docs/security.md)."""

    tailnet_ranges: list[str] = Field(
        default_factory=lambda: ["100.64.0.0/10", "fd7a:115c:a1e0::/48"]
    )
    """The tailnet's address ranges: SSH to VMs is allowed from here, and the audit counts a
    listener or a Machine's firewall rule as private only inside them."""
    control_plane: list[str] = Field(default_factory=list)
    """The control plane's (tailnet) addresses: SSH, health probes and Caddy's admin API are
    allowed from here. Empty: the tailnet ranges stand in for it."""

    @field_validator("tailnet_ranges", "control_plane")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not an address or CIDR range") from None
        return values


class AuditSettings(Section):
    interval: float = Field(default=300.0, ge=0.0)
    """Seconds between the daemon's audit runs (conditions `AuditFinding`); 0 turns them off."""
    ssh_machines: bool = True
    """Also read `sshd -T` on the Machines (over SSH to their tailnet address) when reachable."""


NotifyTopic = Literal[
    "FailoverStarted",
    "FailoverCompleted",
    "ReconcileStalled",
    "BackupStale",
    "BackupFailed",
    "RestoreTestFailed",
    "AuditFinding",
    "LeaderChanged",
    "VMRemoval",
]


def _secret_ref(value: str | None) -> str | None:
    if value is not None and (value.startswith("/") or ".." in value.split("/")):
        raise ValueError(f"{value!r} must be a path relative to [secrets] directory")
    return value


class WebhookSink(Section):
    """A generic webhook: a JSON body POSTed, signed with HMAC-SHA256 when a secret is set."""

    type: Literal["webhook"]
    name: str
    """Name the rules refer to."""
    url: str
    """Where to POST, e.g. `https://hooks.example.com/homeport`."""
    secret: str | None = None
    """File in the secrets directory holding the HMAC key; the body's signature goes in
    `signature_header` as `sha256=<hex>`."""
    signature_header: str = "X-Homeport-Signature"
    """Header carrying the signature."""
    timeout: float = 10.0
    """Seconds per delivery attempt."""
    ca_file: Path | None = None
    """CA bundle for the receiver's certificate (system CAs when unset)."""
    verify_tls: bool = True
    """Verify the receiver's certificate. `false` is reported by `homeport audit`."""

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        return _secret_ref(value)


class SmtpSink(Section):
    """Mail through an SMTP server (the standard library's smtplib), upgraded with STARTTLS."""

    type: Literal["smtp"]
    name: str
    """Name the rules refer to."""
    host: str
    """SMTP server."""
    port: int = 587
    """Submission port."""
    starttls: bool = True
    """Upgrade the connection with STARTTLS before logging in (always verified). `false`
    sends in the clear and is reported by `homeport audit` unless the server is loopback."""
    username: str | None = None
    """Login user; no login when unset."""
    password_secret: str | None = None
    """File in the secrets directory holding the login password."""
    sender: str
    """The From address."""
    recipients: list[str] = Field(min_length=1)
    """The To addresses."""
    timeout: float = 10.0
    """Seconds per delivery attempt."""
    ca_file: Path | None = None
    """CA bundle for the server's certificate (system CAs when unset)."""

    @field_validator("password_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        return _secret_ref(value)


class TelegramSink(Section):
    """A Telegram-compatible bot API: `POST {api_url}/bot<token>/sendMessage`."""

    type: Literal["telegram"]
    name: str
    """Name the rules refer to."""
    api_url: str = "https://api.telegram.org"
    """Bot API base URL."""
    token_secret: str
    """File in the secrets directory holding the bot token."""
    chat_id: str
    """Chat to send to."""
    timeout: float = 10.0
    """Seconds per delivery attempt."""
    ca_file: Path | None = None
    """CA bundle for the API's certificate (system CAs when unset)."""
    verify_tls: bool = True
    """Verify the API's certificate. `false` is reported by `homeport audit`."""

    @field_validator("token_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        return _secret_ref(value)


NotifySink = Annotated[WebhookSink | SmtpSink | TelegramSink, Field(discriminator="type")]


class NotifyRule(Section):
    """Which notifications go to which sinks."""

    events: list[NotifyTopic | Literal["*"]] = Field(min_length=1)
    """Topics, or `*` for all of them."""
    sinks: list[str] = Field(min_length=1)
    """Names of the sinks they go to."""
    kinds: list[str] = Field(default_factory=list)
    """Only about objects of these kinds (e.g. `StandbyPair`); empty: any."""


class NotifySettings(Section):
    """Notifications: sinks, rules, and how deliveries are spaced (docs/security.md)."""

    sinks: list[NotifySink] = Field(default_factory=list)
    """Where notifications go (`[[notify.sinks]]`, each with a `type`)."""
    rules: list[NotifyRule] = Field(default_factory=list)
    """Which topics go where (`[[notify.rules]]`); without rules every topic goes everywhere."""
    dedupe_seconds: float = Field(default=900.0, ge=0.0)
    """The same notification (topic, object, text) is sent once within this window."""
    rate_per_minute: int = Field(default=20, ge=1)
    """Most notifications one sink gets per minute; the rest wait their turn."""
    retries: int = Field(default=5, ge=0)
    """Further attempts after a failed delivery, with exponential backoff."""
    retry_base: float = Field(default=2.0, gt=0.0)
    """First retry delay in seconds; doubles per attempt up to `retry_max`."""
    retry_max: float = Field(default=300.0, gt=0.0)
    """Longest retry delay in seconds."""
    queue_size: int = Field(default=1000, ge=1)
    """Notifications waiting per sink; beyond it the oldest is dropped (and logged)."""
    poll_interval: float = Field(default=1.0, gt=0.0)
    """Seconds between looks at new events and conditions."""

    @model_validator(mode="after")
    def _names(self) -> NotifySettings:
        names = [s.name for s in self.sinks]
        if len(set(names)) != len(names):
            raise ValueError("[[notify.sinks]] names must be unique")
        for rule in self.rules:
            unknown = sorted(set(rule.sinks) - set(names))
            if unknown:
                raise ValueError(f"[[notify.rules]] names unknown sinks: {', '.join(unknown)}")
        return self


class Settings(Section):
    """The whole configuration."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    source: SourceSettings
    signatures: SignaturesSettings = Field(default_factory=SignaturesSettings)
    controller: ControllerSettings = Field(default_factory=ControllerSettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    proxmox: ProxmoxSettings = Field(default_factory=ProxmoxSettings)
    ssh: SSHSettings = Field(default_factory=SSHSettings)
    caddy: CaddySettings = Field(default_factory=CaddySettings)
    tailscale: TailscaleSettings = Field(default_factory=TailscaleSettings)
    git: GitSettings = Field(default_factory=GitSettings)
    firewall: FirewallSettings = Field(default_factory=FirewallSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    coordination: CoordinationSettings = Field(default_factory=CoordinationSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    web: WebSettings = Field(default_factory=WebSettings)
    backups: BackupsSettings = Field(default_factory=BackupsSettings)

    @model_validator(mode="after")
    def _signed_source(self) -> Settings:
        if self.signatures.policy != "off" and self.source.repo is None:
            raise ValueError("[signatures] policy needs a git source: set [source] repo")
        return self


class ReadSettings(Section):
    """The sections the read commands use (``status``, ``get``, ``describe``, ``events``,
    ``estate status``, shell completion): where the store is and how leadership is
    coordinated. A read validates nothing else of the file: ``homeport run`` and every
    command that acts validate all of it (``load_settings``)."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    coordination: CoordinationSettings = Field(default_factory=CoordinationSettings)


AnySettings = TypeVar("AnySettings", bound=Section)


def _absolute(settings: AnySettings, base: Path) -> AnySettings:
    """Make every Path field absolute relative to ``base`` (the config file's folder)."""

    def fix(section: BaseModel) -> BaseModel:
        updates: dict[str, Any] = {}
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, Path) and not value.is_absolute():
                updates[name] = (base / value).resolve()
            elif isinstance(value, BaseModel):
                updates[name] = fix(value)
            elif isinstance(value, list) and any(isinstance(v, BaseModel) for v in value):
                updates[name] = [fix(v) if isinstance(v, BaseModel) else v for v in value]
        return section.model_copy(update=updates)

    fixed = fix(settings)
    assert isinstance(fixed, type(settings))
    return fixed


def config_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get("HOMEPORT_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG_PATH


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file (pass --config or set HOMEPORT_CONFIG)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: is a directory, not a config file (pass the .toml file itself)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): TOML is UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _validated(model: type[AnySettings], raw: dict[str, Any], path: Path) -> AnySettings:
    try:
        settings = model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"[{'.'.join(str(p) for p in e['loc'])}] {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
    return _absolute(settings, path.parent.resolve())


def load_settings(path: Path) -> Settings:
    """Read and validate a TOML config; raise ConfigError with the file and the fix."""
    return _validated(Settings, _read_toml(path), path)


def load_read_settings(path: Path) -> ReadSettings:
    """Read the config and validate only ``[store]`` and ``[coordination]``, for a read
    command: a mistake elsewhere in the file (a section a read does not use, or one it does
    not know) does not stop ``homeport status`` from showing the estate. Errors in those
    two sections, and an unreadable file, are reported exactly as ``load_settings`` does."""
    raw = _read_toml(path)
    used = {name: raw[name] for name in ReadSettings.model_fields if name in raw}
    return _validated(ReadSettings, used, path)
