"""Typed errors of every client: what failed, on which object, and whether trying again helps.

Raised by ``proxmox*``, ``ssh``/``ssh_files``/``systemd``, ``caddy`` and ``tailscale``;
caught by the reconcilers where they expect one, else by the engine, which answers by kind
(``controller/client_errors.py``): those only the operator can fix (``AuthFailed``,
``TLSVerificationFailed``, ``SSHAuthFailed``, a Tailscale 401/403, ``ParameterError``,
``ShrinkRefused``) set the object ``Stalled`` with the fix and are not retried; every
other one, ``transient`` or not, requeues the key after the queue's exponential backoff
(``RateLimited``: after the server's ``retry_after``) with a warning event and no
traceback. The engine gives up after no number of tries: the key is retried, at most
``[controller] backoff_max`` apart, until it converges or stalls. Messages never carry secrets (tokens, env-file contents,
auth keys): clients scrub them before raising.

The tree (``R``: the client already retried it, with backoff, for calls that are safe to
repeat; ``T``: ``transient`` is true, trying again later may succeed)::

    ClientError
    ├── ProxmoxError(status, message, errors)
    │   ├── NotFound                  500 "... does not exist", "no such ...", 404
    │   ├── AlreadyExists             "... already exists"
    │   ├── Locked               R T  "VM is locked (clone)", "can't lock file ... got timeout"
    │   ├── ChecksumMismatch       T  the digest sent is stale: re-read, re-plan
    │   ├── Unreachable          R T  connect errors, timeouts, 595-599, 502-504,
    │   │   │                         "got no worker upid"
    │   │   └── OutcomeUnknown     T  a mutating call's response was lost: it may have
    │   │                             happened; never retried, re-observe instead
    │   ├── TLSVerificationFailed     the server's certificate does not chain to the CA bundle
    │   ├── AuthFailed                401 / 403
    │   ├── ParameterError            400 with per-parameter ``errors``
    │   ├── AgentNotReady          T  the guest agent is not configured, not running or hung
    │   ├── TaskFailed                a task ended with an error exit status
    │   └── TaskTimeout            T  a task still ran when the wait ended
    ├── SSHError(host)
    │   ├── SSHUnreachable       R T  connect refused / timed out, connection lost
    │   ├── HostKeyMismatch           host key unknown or different from the pinned one
    │   ├── SSHAuthFailed             the key was refused
    │   ├── CommandFailed             non-zero exit status (with ``check=True``)
    │   ├── CommandTimeout         T  the command outlived its timeout
    │   └── RemoteFileError           an SFTP operation failed (permissions, disk full, ...)
    ├── CaddyError(status, message)
    │   ├── CaddyConflict          T  412: the config changed under us (If-Match)
    │   └── CaddyUnreachable     R T  the admin endpoint does not answer
    ├── TailscaleError(status, message)
    │   ├── RateLimited          R T  429, with ``retry_after``
    │   └── TailscaleUnreachable R T  connect errors, timeouts, 5xx
    └── ShrinkRefused                 a disk resize would shrink the disk (never sent)

Retries inside the clients are bounded by each client's ``RetryPolicy``; what is still
failing afterwards is raised for the controller to requeue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar


class ClientError(Exception):
    """Base of every error a client raises."""

    transient: ClassVar[bool] = False
    """Trying the same thing again later may succeed: no operator fix is looked for (the
    engine requeues the key with backoff and a warning: ``controller/client_errors.py``)."""


# --- Proxmox -------------------------------------------------------------------------------


class ProxmoxError(ClientError):
    """The Proxmox API refused or failed a call; ``message`` is PVE's own first line."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: Mapping[str, str] | None = None,
        *,
        operation: str = "",
    ) -> None:
        self.status = status
        self.message = message
        self.errors: dict[str, str] = dict(errors or {})
        self.operation = operation
        super().__init__(self._render())

    def _render(self) -> str:
        head = f"{self.operation}: " if self.operation else ""
        text = f"{head}{self.status} {self.message}".strip()
        if self.errors:
            details = "; ".join(f"{k}: {v.strip()}" for k, v in sorted(self.errors.items()))
            text = f"{text} ({details})"
        return text


class NotFound(ProxmoxError):
    """The object (VM config, storage, job, task, HA resource) does not exist."""


class AlreadyExists(ProxmoxError):
    """The vmid, job id or resource is taken."""


class Locked(ProxmoxError):
    """The VM carries a config lock or its lock file is busy; retried, then raised."""

    transient = True

    def __init__(
        self,
        status: int,
        message: str,
        errors: Mapping[str, str] | None = None,
        *,
        operation: str = "",
        lock: str | None = None,
    ) -> None:
        self.lock = lock
        super().__init__(status, message, errors, operation=operation)


class ChecksumMismatch(ProxmoxError):
    """The ``digest`` sent no longer matches: someone changed the config; observe again."""

    transient = True


class Unreachable(ProxmoxError):
    """The API could not be reached or answered 595-599/502-504; the call did not happen."""

    transient = True


class OutcomeUnknown(Unreachable):
    """A mutating call was sent but its answer was lost: it may or may not have happened.

    Never retried by the client; the caller's journal re-observes before acting again.
    """


class TLSVerificationFailed(ProxmoxError):
    """The server certificate does not verify against the configured CA bundle."""


class AuthFailed(ProxmoxError):
    """The API token was refused (401) or lacks a privilege (403)."""


class ParameterError(ProxmoxError):
    """400 ``Parameter verification failed.``; ``errors`` maps each parameter to its problem."""


class AgentNotReady(ProxmoxError):
    """The QEMU guest agent did not answer (not configured, VM stopped, agent not up yet)."""

    transient = True


class TaskFailed(ProxmoxError):
    """A task ended with an exit status other than ``OK`` / ``WARNINGS: n``."""

    def __init__(self, upid: str, exitstatus: str, log_tail: Sequence[str]) -> None:
        self.upid = upid
        self.exitstatus = exitstatus
        self.log_tail = tuple(log_tail)
        super().__init__(500, f"task {upid} failed: {exitstatus}")


class TaskTimeout(ProxmoxError):
    """The task was still running when the wait ended; it keeps running on the node."""

    transient = True

    def __init__(self, upid: str, waited: float) -> None:
        self.upid = upid
        self.waited = waited
        super().__init__(0, f"task {upid} still running after {waited:.1f}s")


# --- SSH -----------------------------------------------------------------------------------


class SSHError(ClientError):
    """Something went wrong talking to a VM over SSH."""

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        super().__init__(f"{host}: {message}")


class SSHUnreachable(SSHError):
    """No connection (refused, timed out) or the connection dropped mid-call."""

    transient = True


class HostKeyMismatch(SSHError):
    """The host key is not the pinned one in known_hosts (or no key is pinned)."""


class SSHAuthFailed(SSHError):
    """The server refused homeport's key."""


def _short_argv(argv: Sequence[str]) -> str:
    # argv[0..1] only: further arguments may be paths or values nobody needs in a log line.
    shown = " ".join(argv[:2])
    return shown + (" ..." if len(argv) > 2 else "")


class CommandFailed(SSHError):
    """A remote command exited non-zero; ``stderr`` is its (truncated) error output."""

    def __init__(self, host: str, argv: Sequence[str], exit_status: int, stderr: str) -> None:
        self.argv = tuple(argv)
        self.exit_status = exit_status
        self.stderr = stderr
        last = stderr.strip().splitlines()[-1][:200] if stderr.strip() else ""
        detail = f": {last}" if last else ""
        super().__init__(host, f"`{_short_argv(argv)}` exited {exit_status}{detail}")


class CommandTimeout(SSHError):
    """A remote command did not finish within its timeout."""

    transient = True

    def __init__(self, host: str, argv: Sequence[str], timeout: float) -> None:
        self.argv = tuple(argv)
        self.timeout = timeout
        super().__init__(host, f"`{_short_argv(argv)}` timed out after {timeout:g}s")


class RemoteFileError(SSHError):
    """An SFTP operation on a remote path failed."""

    def __init__(self, host: str, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(host, f"{path}: {reason}")


# --- Caddy ---------------------------------------------------------------------------------


class CaddyError(ClientError):
    """Caddy's admin API refused a request; the running config is unchanged (Caddy rolls back)."""

    def __init__(self, status: int, message: str, *, operation: str = "") -> None:
        self.status = status
        self.message = message
        self.operation = operation
        head = f"{operation}: " if operation else ""
        super().__init__(f"{head}{status} {message}".strip())


class CaddyConflict(CaddyError):
    """412: the config changed between our read and our write (If-Match)."""

    transient = True


class CaddyUnreachable(CaddyError):
    """The admin endpoint did not answer; ``sent`` is false when the request never left."""

    transient = True

    def __init__(self, message: str, *, operation: str = "", sent: bool = True) -> None:
        self.sent = sent
        super().__init__(0, message, operation=operation)


# --- Tailscale -----------------------------------------------------------------------------


class TailscaleError(ClientError):
    """The Tailscale API refused a request; ``message`` is its ``message`` field."""

    def __init__(self, status: int, message: str, *, operation: str = "") -> None:
        self.status = status
        self.message = message
        self.operation = operation
        head = f"{operation}: " if operation else ""
        super().__init__(f"{head}{status} {message}".strip())


class RateLimited(TailscaleError):
    """429 after the client's own retries; ``retry_after`` seconds is the server's hint."""

    transient = True

    def __init__(self, retry_after: float | None, *, operation: str = "") -> None:
        self.retry_after = retry_after
        hint = f" (retry after {retry_after:g}s)" if retry_after is not None else ""
        super().__init__(429, f"rate limited{hint}", operation=operation)


class TailscaleUnreachable(TailscaleError):
    """The API did not answer, or answered 5xx; ``sent`` is false when the request never left."""

    transient = True

    def __init__(
        self, status: int, message: str, *, operation: str = "", sent: bool = True
    ) -> None:
        self.sent = sent
        super().__init__(status, message, operation=operation)


# --- Argument checks -----------------------------------------------------------------------


class ShrinkRefused(ClientError):
    """A disk resize would shrink the disk; Proxmox cannot, and homeport never asks."""

    def __init__(self, vmid: int, disk: str, current: int, requested: int) -> None:
        self.vmid = vmid
        self.disk = disk
        self.current = current
        self.requested = requested
        super().__init__(
            f"VM {vmid} {disk}: refusing to shrink from {current} to {requested} bytes "
            "(disks only grow; raise the declared size or recreate the VM)"
        )
