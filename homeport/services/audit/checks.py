"""The audit's checks: pure functions from observations to findings (``findings.py``).

``observe.py`` gathers what they look at (firewall payloads, ``sshd -T`` and ``ss -ltnH``
output, file modes, manifests, the config); nothing here does I/O. Parsers for the
command outputs live here too so they are tested on captured text.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from homeport.controller.config import Settings, SmtpSink, TelegramSink, WebhookSink
from homeport.controller.credentials import CredentialFile
from homeport.reconcilers.ownership import owned_rule_id
from homeport.services.audit.findings import Finding
from homeport.source.secrets_scan import find_secrets
from homeport.source.signatures import SignatureConfigError, SignaturePolicy

WEB_UI_PORT = 8006
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# -- parsing ------------------------------------------------------------------------------


def parse_sshd_t(text: str) -> dict[str, str]:
    """``sshd -T``: ``keyword value`` lines; the first value of a keyword."""
    settings: dict[str, str] = {}
    for line in text.splitlines():
        keyword, _, value = line.strip().partition(" ")
        if keyword:
            settings.setdefault(keyword.lower(), value.strip().lower())
    return settings


def parse_ss_listeners(text: str) -> list[tuple[str, int]]:
    """``ss -ltnH``: (local address, port) of every listening TCP socket."""
    listeners = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        host, _, port = fields[3].rpartition(":")
        host = host.strip("[]").split("%", 1)[0]
        if port.isdigit():
            listeners.append((host, int(port)))
    return listeners


def networks(ranges: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(r, strict=False) for r in ranges]


def _inside(address: str, ranges: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in ranges)


def _source_inside(source: str | None, ranges: Sequence[Network]) -> bool | None:
    """Whether a rule's source lies inside the ranges; None when it cannot be judged
    (an IP set or alias such as ``+management``)."""
    if not source:
        return False
    if source.startswith("+") or not source[0].isalnum():
        return None
    parts = [p.strip() for p in source.split(",")]
    try:
        nets = [ipaddress.ip_network(p.split("-")[0], strict=False) for p in parts]
    except ValueError:
        return None
    return all(any(n.version == r.version and n.subnet_of(r) for r in ranges) for n in nets)  # type: ignore[arg-type]


# -- VMs ----------------------------------------------------------------------------------


def vm_firewall(
    vm: str,
    options: Mapping[str, Any],
    nics: Mapping[str, bool],
    rules: Sequence[Mapping[str, Any]],
) -> list[Finding]:
    """The VM's firewall: on, on every NIC, DROP by default, no foreign ACCEPT rules."""
    found = []
    if str(options.get("enable", "0")) != "1":
        found.append(
            Finding(
                "vm-firewall-disabled",
                "VM",
                vm,
                "the VM's Proxmox firewall is disabled: every port its services open is reachable",
                "let homeport manage it (spec.firewall.manage: true) or enable it in Proxmox",
            )
        )
    off = sorted(nic for nic, on in nics.items() if not on)
    if off:
        found.append(
            Finding(
                "vm-firewall-disabled",
                "VM",
                vm,
                f"the firewall is off on {', '.join(off)}: its rules do not apply there",
                "set firewall: true on the VM's network interfaces",
            )
        )
    if str(options.get("policy_in", "DROP")).upper() == "ACCEPT":
        found.append(
            Finding(
                "vm-firewall-open-policy",
                "VM",
                vm,
                "inbound policy is ACCEPT: everything not dropped explicitly gets in",
                "set policy_in to DROP (homeport does when it manages the firewall)",
            )
        )
    found += [
        Finding(
            "vm-firewall-unowned-rule",
            "VM",
            vm,
            f"rule at pos {r.get('pos')} accepts {_rule_text(r)} and was not written by homeport"
            + (f" ({r.get('comment')})" if r.get("comment") else ""),
            "declare it in spec.firewall.rules or delete it in Proxmox",
        )
        for r in rules
        if owned_rule_id(r.get("comment")) is None
        and r.get("action") == "ACCEPT"
        and str(r.get("enable", "0")) == "1"
        and r.get("type", "in") == "in"
    ]
    return found


def _rule_text(rule: Mapping[str, Any]) -> str:
    what = rule.get("macro") or rule.get("proto") or "any protocol"
    port = f"/{rule['dport']}" if rule.get("dport") else ""
    return f"{what}{port} from {rule.get('source') or 'anywhere'}"


def ssh_password(kind: str, name: str, sshd: Mapping[str, str]) -> list[Finding]:
    """Keys only (seed 000): neither passwords nor keyboard-interactive logins."""
    enabled = [
        k
        for k in ("passwordauthentication", "kbdinteractiveauthentication")
        if sshd.get(k) == "yes"
    ]
    if not enabled:
        return []
    return [
        Finding(
            "ssh-password-auth",
            kind,
            name,
            f"sshd accepts passwords ({', '.join(f'{k} yes' for k in enabled)})",
            "set PasswordAuthentication no and KbdInteractiveAuthentication no in "
            "/etc/ssh/sshd_config (or a file in sshd_config.d) and reload sshd",
        )
    ]


def app_listeners(
    app: str,
    port: int,
    listeners: Iterable[tuple[str, int]],
    *,
    own_addresses: Iterable[str],
    tailnet: Sequence[Network],
) -> list[Finding]:
    """The App's port is bound to the tailnet (or loopback) only, never to every address."""
    own = set(own_addresses)
    public = sorted(
        {
            host
            for host, bound in listeners
            if bound == port
            and host not in own
            and not _inside(host, tailnet)
            and not _is_loopback(host)
        }
    )
    if not public:
        return []
    shown = ", ".join(f"{h or '*'}:{port}" for h in public)
    return [
        Finding(
            "app-listens-publicly",
            "App",
            app,
            f"listens on {shown}, beyond the tailnet",
            "bind the App to the tailnet (spec.bind: tailnet) and have it honour HOST",
        )
    ]


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback and host not in ("0.0.0.0", "::")
    except ValueError:
        return host == "localhost"


def env_file_mode(app: str, path: str, mode: int | None) -> list[Finding]:
    if mode is None or not mode & 0o077:
        return []
    who = "every user on the VM" if mode & 0o007 else "its group"
    return [
        Finding(
            "env-file-readable",
            "App",
            app,
            f"{path} has mode {mode & 0o7777:04o}: readable by {who}",
            f"chmod 600 {path} (homeport writes it 0600; something changed it)",
        )
    ]


def secret_files(modes: Mapping[str, int]) -> list[Finding]:
    return [
        Finding(
            "secret-file-readable",
            "Config",
            "secrets",
            f"{path} has mode {mode & 0o7777:04o}: readable by others than its owner",
            f"chmod 600 {path}",
        )
        for path, mode in sorted(modes.items())
        if mode & 0o077
    ]


# -- Machines -----------------------------------------------------------------------------


def datacenter_firewall(options: Mapping[str, Any]) -> list[Finding]:
    if str(options.get("enable", "0")) == "1":
        return []
    return [
        Finding(
            "datacenter-firewall-disabled",
            "Datacenter",
            "cluster",
            "the datacenter firewall is disabled: no node or VM firewall rule is applied",
            "enable it in Datacenter → Firewall → Options (after allowing SSH and 8006 "
            "from the tailnet on the nodes, or you lock yourself out)",
        )
    ]


def machine_firewall(
    machine: str,
    *,
    cluster: Mapping[str, Any],
    node: Mapping[str, Any],
    rules: Sequence[Mapping[str, Any]],
    ssh_port: int,
    tailnet: Sequence[Network],
) -> list[Finding]:
    """Web UI and SSH of a Proxmox host: reachable only from the tailnet per its firewall."""
    fix = "allow 8006 and SSH from the tailnet ranges only, with the firewall enabled"
    if str(cluster.get("enable", "0")) != "1" or str(node.get("enable", "1")) == "0":
        return [
            Finding(
                "machine-firewall-open",
                "Machine",
                machine,
                "the node's firewall is not active: its web UI (8006) and SSH are open to "
                "every network it is on",
                fix,
            )
        ]
    if str(cluster.get("policy_in", "DROP")).upper() == "ACCEPT":
        return [
            Finding(
                "machine-firewall-open",
                "Machine",
                machine,
                "the datacenter's inbound policy is ACCEPT: the web UI and SSH are open",
                fix,
            )
        ]
    return [
        Finding(
            "machine-firewall-open",
            "Machine",
            machine,
            f"rule at pos {r.get('pos')} accepts {_rule_text(r)}: the web UI or SSH beyond the tailnet",
            fix,
        )
        for r in rules
        if _opens_management(r, ssh_port) and _source_inside(r.get("source"), tailnet) is False
    ]


def _opens_management(rule: Mapping[str, Any], ssh_port: int) -> bool:
    if rule.get("action") != "ACCEPT" or str(rule.get("enable", "0")) != "1":
        return False
    if rule.get("type", "in") != "in":
        return False
    if rule.get("macro"):
        return str(rule["macro"]).upper() == "SSH"
    dport = str(rule.get("dport") or "")
    if not dport:
        return rule.get("proto") in (None, "", "tcp")
    return any(_port_in(dport, p) for p in (WEB_UI_PORT, 22, ssh_port))


def _port_in(spec: str, port: int) -> bool:
    for part in spec.split(","):
        low, _, high = part.partition(":")
        if low.isdigit() and int(low) <= port <= int(high or low):
            return True
    return False


# -- manifests and the config -------------------------------------------------------------


def manifest_secrets(where: str, document: Mapping[str, Any]) -> list[Finding]:
    kind = str(document.get("kind") or "Manifest")
    name = str((document.get("metadata") or {}).get("name") or "?")
    return [
        Finding(
            "manifest-secret",
            kind,
            name,
            f"{where}: {'.'.join(str(p) for p in f.path)} holds {f.what}",
            "move the value to a file in the secrets directory (secretEnv/envFrom), "
            "rotate it, and remove it from the git history",
        )
        for f in find_secrets(dict(document))
    ]


def _plain_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and not _is_loopback(parts.hostname or "")


def backup_offsite(
    name: str,
    manifest: Mapping[str, Any],
    estate_hosts: Iterable[str],
    tailnet: Sequence[Network],
) -> list[Finding]:
    """A BackupPolicy's offsite: plain-text archives on a host that is no Machine or VM of
    the estate (whoever runs it reads every VM's disks), or an S3 endpoint over plain HTTP
    beyond loopback and the tailnet (``tailnet_ranges``; validation allows only
    Tailscale's own ranges, so this catches a manifest adopted before that rule)."""
    spec = manifest.get("spec") or {}
    offsite = spec.get("offsite") or {}
    found = []
    ssh = offsite.get("ssh") or {}
    host = ssh.get("host")
    if host and host not in set(estate_hosts):
        found.append(
            Finding(
                "offsite-unencrypted",
                "BackupPolicy",
                name,
                f"offsite.ssh copies archives unencrypted to {host}, which is no Machine or VM "
                "of the estate",
                "use offsite.s3 (restic encrypts on the control plane before upload), "
                "or a host of the estate",
            )
        )
    s3 = offsite.get("s3") or {}
    endpoint = s3.get("endpoint")
    if isinstance(endpoint, str) and _plain_http_beyond(endpoint, tailnet):
        found.append(
            Finding(
                "offsite-plain-http",
                "BackupPolicy",
                name,
                f"offsite.s3 endpoint {urlsplit(endpoint).netloc} over plain HTTP beyond the "
                "tailnet: the access key id and the bucket's layout travel in clear",
                "use https://",
            )
        )
    return found


def config_tls(settings: Settings) -> list[Finding]:
    """TLS verification off, or credentials over plain text, in homeport's own config."""
    found: list[Finding] = []

    def add(name: str, message: str, fix: str) -> None:
        found.append(Finding("tls-verification-disabled", "Config", name, message, fix))

    for sink in settings.notify.sinks:
        where = f"[[notify.sinks]] {sink.name}"
        if isinstance(sink, WebhookSink | TelegramSink):
            url = sink.url if isinstance(sink, WebhookSink) else sink.api_url
            if not sink.verify_tls:
                add(sink.name, f"{where}: verify_tls = false", "remove verify_tls (or set ca_file)")
            if _plain_http(url):
                add(sink.name, f"{where}: {urlsplit(url).netloc} over plain HTTP", "use https://")
        if isinstance(sink, SmtpSink) and not sink.starttls and not _is_loopback(sink.host):
            add(sink.name, f"{where}: mail to {sink.host} without STARTTLS", "set starttls = true")
    if _plain_http(settings.tailscale.api_url):
        add("tailscale", "[tailscale] api_url sends the API token over plain HTTP", "use https://")
    public = [
        a
        for a in settings.caddy.https_listen + settings.caddy.http_listen
        if not _listens_locally(a)
    ]
    if settings.caddy.tls == "off" and public:
        add(
            "caddy",
            f'[caddy] tls = "off" while listening on {", ".join(public)}',
            'use tls = "acme"',
        )
    return found


SIGNED_REVISIONS_FIX = (
    "require signed revisions (docs/security.md#signed-revisions): "
    '[signatures] policy = "tip" and allowed_signers = FILE in homeport.toml'
)


def signed_revisions(policy: SignaturePolicy | None) -> list[Finding]:
    """The signature policy in force (None: a directory source, which has no commits)."""

    def finding(message: str, fix: str = SIGNED_REVISIONS_FIX) -> list[Finding]:
        return [Finding("signatures-off", "Config", "signatures", message, fix)]

    if policy is None:
        return finding(
            "a directory source: any change to its files is adopted, signed by nobody",
            "use a git repository ([source] repo) with signed revisions",
        )
    if not policy.enabled:
        return finding("the signature policy is off: whoever can push can run anything on every VM")
    try:
        policy.check()
    except SignatureConfigError as exc:
        return finding(
            f"the signature policy cannot be applied, every new revision is held: {exc}",
            "fix [signatures] allowed_signers / gpg_home",
        )
    return []


def _listens_locally(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    return bool(host) and _is_loopback(host)


def config_plain_http(settings: Settings) -> list[Finding]:
    """Channels that carry credentials or control over plain HTTP: etcd (leadership,
    fencing tokens, the shared journal — and a password, which must never travel in
    clear), OTLP (every span and metric names the estate) and Caddy's admin API (which
    rewrites the public router, unauthenticated). Loopback is fine, and so is the tailnet
    (WireGuard encrypts it) except for a password, which etcd can protect with TLS."""
    found: list[Finding] = []
    tailnet = networks(settings.firewall.tailnet_ranges)

    def add(name: str, message: str) -> None:
        found.append(Finding("plain-http-channel", "Config", name, message, "use https://"))

    coordination = settings.coordination
    for endpoint in coordination.endpoints if coordination.backend == "etcd" else ():
        host = urlsplit(endpoint).netloc
        if coordination.username and _plain_http(endpoint):
            add("etcd", f"[coordination] endpoint {host} sends the etcd password over plain HTTP")
        elif _plain_http_beyond(endpoint, tailnet):
            add(
                "etcd",
                f"[coordination] endpoint {host}: leadership and fencing tokens over plain HTTP",
            )
    telemetry = settings.telemetry
    otlp = telemetry.otlp_endpoint if "otlp" in (telemetry.traces, telemetry.metrics) else None
    if otlp and _plain_http_beyond(otlp, tailnet):
        add(
            "telemetry",
            f"[telemetry] otlp_endpoint {urlsplit(otlp).netloc}: the estate's traces and "
            "metrics over plain HTTP",
        )
    if _plain_http_beyond(settings.caddy.admin_url, tailnet):
        add(
            "caddy",
            f"[caddy] admin_url {urlsplit(settings.caddy.admin_url).netloc}: the router's "
            "admin API (it rewrites every public route) over plain HTTP off the tailnet",
        )
    return found


def _plain_http_beyond(url: str, tailnet: Sequence[Network]) -> bool:
    """Plain HTTP to a host neither on loopback nor on the tailnet (an address in its
    ranges, or a MagicDNS name)."""
    host = urlsplit(url).hostname or ""
    return _plain_http(url) and not _inside(host, tailnet) and not host.endswith(".ts.net")


def credential_files(files: Sequence[CredentialFile]) -> list[Finding]:
    """The config's token, key and password files: readable by their owner only."""
    return [
        Finding(
            "credential-file-readable",
            "Config",
            f.setting.split("]")[0].strip("["),
            f"{f.setting} {f.path} has mode {f.mode:04o}: readable by others than its owner",
            f"chmod 600 {f.path}",
        )
        for f in files
        if f.exposed
    ]
