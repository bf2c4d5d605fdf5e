"""How the engine (``engine.py``) answers a client error that reached it: by its kind.

The clients' error tree (``clients/errors.py``) says what failed and whether trying again
may help (``transient``); this module adds what homeport does about it:

- ``transient`` (Proxmox unreachable, a lock, SSH unreachable, 429, ...): back off and
  retry, with a warning line and no traceback — the world is expected to recover;
- permanent, the operator must act (a refused API token or SSH key, a certificate that
  does not verify, a missing privilege, a value Proxmox refuses, a shrinking disk): the
  object is set ``Stalled`` with the reason and the fix, and waits for a change (a new
  generation), a dependency turning Ready, ``homeport reconcile`` or a daemon restart —
  retrying cannot succeed and would hammer the API (and fill the log) for nothing;
- any other client error (a task or command that failed, an object not found, ...):
  back off and retry too, with the same warning and no traceback; it may be a race with
  the world and is not a bug.

Tracebacks are for bugs only: an exception that is not a ``ClientError``.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.clients.errors import (
    AuthFailed,
    ClientError,
    ParameterError,
    RateLimited,
    ShrinkRefused,
    SSHAuthFailed,
    TailscaleError,
    TLSVerificationFailed,
)

PERMISSION_DENIED = 403
UNAUTHORISED = 401


@dataclass(frozen=True)
class ClientErrorPolicy:
    """What to do about one client error."""

    permanent: bool
    reason: str
    """The condition's reason (CamelCase), e.g. ``ProxmoxAuthFailed``."""
    fix: str | None = None
    """For permanent errors: what the operator does, then how to resume."""
    delay: float | None = None
    """For retries: the server's hint in seconds (None: the key's backoff)."""


RESUME = "then `homeport reconcile KIND NAME` (or restart the daemon after a config change)"


def policy_for(exc: ClientError) -> ClientErrorPolicy:
    """The engine's answer to ``exc`` (see the module docstring)."""
    if exc.transient:  # the clients' own verdict: the world is expected to recover
        delay = exc.retry_after if isinstance(exc, RateLimited) else None
        return ClientErrorPolicy(False, _reason(exc), delay=delay)
    fix = _operator_fix(exc)
    if fix is not None:
        return ClientErrorPolicy(True, _reason(exc), f"{fix}; {RESUME}")
    return ClientErrorPolicy(False, _reason(exc))


def _reason(exc: ClientError) -> str:
    name = type(exc).__name__
    if isinstance(exc, AuthFailed | TLSVerificationFailed | ParameterError):
        return name if name.startswith("Proxmox") else f"Proxmox{name}"
    if isinstance(exc, TailscaleError) and not name.startswith("Tailscale"):
        return f"Tailscale{name}"
    return name


def _operator_fix(exc: ClientError) -> str | None:
    """The fix when only the operator can make ``exc`` go away; None when a retry may."""
    if isinstance(exc, AuthFailed):
        if exc.status == PERMISSION_DENIED:
            return (
                "the Proxmox API token lacks a privilege: grant the token's role what "
                "docs/quickstart.md lists (or check `[proxmox] user` and `token_name`)"
            )
        return "check `[proxmox] token_file`, `user` and `token_name` (the token was refused)"
    if isinstance(exc, TLSVerificationFailed):
        return (
            "check `[proxmox] ca_file`: it must hold the CA that signed the node's "
            "certificate (/etc/pve/pve-root-ca.pem)"
        )
    if isinstance(exc, SSHAuthFailed):
        return (
            "check `[ssh] key_file` and `[ssh] user`: the VM must have that key's public "
            "half in its authorized_keys"
        )
    if isinstance(exc, TailscaleError) and exc.status in (UNAUTHORISED, PERMISSION_DENIED):
        return "check `[tailscale] token_file` (an API access token with the devices scope)"
    if isinstance(exc, ParameterError):
        return "Proxmox refused a value: correct it in the manifest (or the config) and push"
    if isinstance(exc, ShrinkRefused):
        return "disks only grow: raise the declared size back, or recreate the VM"
    return None
