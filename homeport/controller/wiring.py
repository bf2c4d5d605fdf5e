"""Building the daemon's clients and reconcilers from the settings.

The one place that knows which client serves which protocol and which reconciler serves
which kind; ``homeport run``, ``homeport plan`` and the demo use it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncssh
from opentelemetry.trace import Tracer

from homeport.clients.bundle import Clients
from homeport.clients.caddy import CaddyClient
from homeport.clients.caddy import CaddySettings as CaddyClientSettings
from homeport.clients.probes import Prober
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.proxmox_settings import ProxmoxSettings as ProxmoxClientSettings
from homeport.clients.ssh import SSHPool
from homeport.clients.ssh import SSHSettings as SSHClientSettings
from homeport.clients.systemd import Systemd
from homeport.clients.tailscale import TailscaleClient
from homeport.clients.tailscale import TailscaleSettings as TailscaleClientSettings
from homeport.controller.config import ConfigError, Settings
from homeport.controller.credentials import exposed_credentials
from homeport.reconcilers.agent import AgentReconciler, AgentSettings
from homeport.reconcilers.app import AppReconciler, AppSettings
from homeport.reconcilers.backuppolicy import BackupPolicyReconciler, BackupSettings
from homeport.reconcilers.base import Reconciler
from homeport.reconcilers.estate import EstatePowerReconciler
from homeport.reconcilers.machine import MachineReconciler
from homeport.reconcilers.proxyroute import ProxyRouteReconciler
from homeport.reconcilers.standbypair import ProbeObserver, StandbyPairReconciler
from homeport.reconcilers.vm import VMReconciler, VMSettings, public_key_of

KEY_FIX = "create it with `ssh-keygen -t ed25519 -N '' -f <path>` (no passphrase)"


class CredentialsError(ConfigError):
    """A token or key file the configuration names cannot be used; says which and how."""


async def build_clients(
    settings: Settings, *, tracer: Tracer | None = None, check_modes: bool = True
) -> Clients:
    """One client per protocol, the frozen, typed set reconcilers reach through
    ``ctx.clients`` (each kind the part it declared, ``Reconciler.uses``).

    Raises ``CredentialsError`` (a ``ConfigError``) when a token or key file is unusable,
    or (``check_modes``) readable by others than its owner: ``homeport audit`` passes
    False, to report that as a finding instead."""
    exposed = exposed_credentials(settings) if check_modes else []
    if exposed:
        raise CredentialsError(exposed[0].problem)
    try:
        return _build_clients(settings, tracer)
    except (OSError, ValueError, asyncssh.KeyImportError) as exc:
        problem = _credential_problem(settings) or f"cannot set up the clients: {exc}"
        raise CredentialsError(problem) from None


def _credential_problem(settings: Settings) -> str | None:
    """The first credential file that cannot be used, and how to fix it."""
    checks = [
        (
            "[proxmox] token_file",
            settings.proxmox.token_file,
            "write the API token's secret there (mode 0600), see docs/quickstart.md",
        ),
        (
            "[ssh] key_file",
            settings.ssh.key_file,
            KEY_FIX,
        ),
        (
            "[tailscale] token_file",
            settings.tailscale.token_file,
            "write a Tailscale API access token there (mode 0600)",
        ),
    ]
    for what, path, fix in checks:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return f"cannot read {what} {path}: {reason}; {fix}"
        if not text.strip():
            return f"{what} {path} is empty; {fix}"
    try:
        asyncssh.read_private_key(str(settings.ssh.key_file))
    except (asyncssh.KeyImportError, ValueError) as exc:
        return f"cannot use [ssh] key_file {settings.ssh.key_file}: {exc}; {KEY_FIX}"
    return None


def _build_clients(settings: Settings, tracer: Tracer | None) -> Clients:
    px = settings.proxmox
    proxmox = ProxmoxClient(
        ProxmoxClientSettings(
            host=px.host,
            port=px.port,
            user=px.user,
            token_name=px.token_name,
            token_file=px.token_file,
            ca_bundle=px.ca_file,
            timeout=px.timeout,
            max_concurrency=px.concurrency,
        ),
        tracer=tracer,
    )
    ssh = SSHPool(
        SSHClientSettings(
            username=settings.ssh.user,
            port=settings.ssh.port,
            client_keys=(settings.ssh.key_file,),
            known_hosts=settings.ssh.known_hosts,
            connect_timeout=settings.ssh.connect_timeout,
            command_timeout=settings.ssh.command_timeout,
        ),
        tracer=tracer,
    )
    caddy = CaddyClient(
        CaddyClientSettings(
            admin_url=settings.caddy.admin_url,
            server=settings.caddy.server,
            https_listen=tuple(settings.caddy.https_listen),
            http_listen=tuple(settings.caddy.http_listen),
            tailnet_listen=tuple(settings.caddy.tailnet_listen),
            tls=settings.caddy.tls,
            acme_email=settings.caddy.acme_email,
        ),
        tracer=tracer,
    )
    tailscale = TailscaleClient(
        TailscaleClientSettings(
            api_url=settings.tailscale.api_url,
            tailnet=settings.tailscale.tailnet,
            token_file=settings.tailscale.token_file,
        ),
        tracer=tracer,
    )
    return Clients(
        proxmox=proxmox,
        ssh=ssh,
        systemd=Systemd(ssh),
        caddy=caddy,
        tailscale=tailscale,
        prober=Prober(tracer=tracer),
    )


async def close_clients(clients: Clients) -> None:
    for _name, client in clients.closable():
        close = getattr(client, "close", None) or getattr(client, "aclose", None)
        if close is not None:
            await close()


def _public_key(key_file: Path) -> str:
    """The public half of homeport's SSH key, for cloud-init: derived from the private key,
    so a missing ``.pub`` file never leaves new VMs without homeport's key."""
    try:
        return public_key_of(key_file)
    except (OSError, asyncssh.KeyImportError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CredentialsError(
            f"cannot read [ssh] key_file {key_file}: {reason}; {KEY_FIX}"
        ) from None


def build_reconcilers(
    settings: Settings, *, on_probe: ProbeObserver | None = None
) -> dict[str, Reconciler[Any, Any]]:
    """One reconciler per kind; ``on_probe`` hears every StandbyPair probe (telemetry)."""
    key_file: Path = settings.ssh.key_file
    vm = VMReconciler(
        VMSettings(
            vmid_min=settings.controller.vmid_min,
            vmid_max=settings.controller.vmid_max,
            ssh_port=settings.ssh.port,
            homeport_public_key=_public_key(key_file),
            auth_key_expiry=settings.tailscale.auth_key_expiry,
            tailnet_ranges=tuple(settings.firewall.tailnet_ranges),
            control_plane=tuple(settings.firewall.control_plane),
            caddy_admin_port=urlsplit(settings.caddy.admin_url).port,
        )
    )
    app = AppReconciler(
        AppSettings(secrets_dir=settings.secrets.directory, url_rewrites=settings.git.url_rewrites)
    )
    pair = StandbyPairReconciler(
        secrets_dir=settings.secrets.directory, ssh_port=settings.ssh.port, on_probe=on_probe
    )
    reconcilers: list[Reconciler[Any, Any]] = [
        MachineReconciler(),
        vm,
        app,
        pair,
        ProxyRouteReconciler(),
        BackupPolicyReconciler(
            BackupSettings(
                scratch_vmid_min=settings.backups.scratch_vmid_min,
                scratch_vmid_max=settings.backups.scratch_vmid_max,
                vmid_min=settings.controller.vmid_min,
                vmid_max=settings.controller.vmid_max,
                health_source=settings.backups.health_source,
                secrets_dir=settings.secrets.directory,
            )
        ),
        AgentReconciler(AgentSettings(secrets_dir=settings.secrets.directory)),
        EstatePowerReconciler(),
    ]
    return {r.kind: r for r in reconcilers}
