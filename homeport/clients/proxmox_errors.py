"""Turns proxmoxer's ``ResourceException`` and requests' exceptions into the typed tree.

Used by ``proxmox_transport`` around every call. PVE says "not found" as a 500 with
``... does not exist`` or ``no such ...``, puts its message in the HTTP reason phrase
(proxmoxer exposes it as ``content``), and proxies failures to other nodes as 595-599
(reference §1.4, §3.4). Whether a lost answer means "did not happen" (connect failure,
595) or "may have happened" (read timeout, 596+) decides between ``Unreachable`` and
``OutcomeUnknown`` for mutating calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import requests
from proxmoxer.core import ResourceException
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from homeport.clients.errors import (
    AgentNotReady,
    AlreadyExists,
    AuthFailed,
    ChecksumMismatch,
    Locked,
    NotFound,
    OutcomeUnknown,
    ParameterError,
    ProxmoxError,
    TLSVerificationFailed,
    Unreachable,
)
from homeport.clients.secret import Secret, scrub

_LOCKED = re.compile(r"VM is locked \(([\w-]+)\)")
_LOCK_TIMEOUT = re.compile(r"can't lock file .* got timeout")
_CHECKSUM = ("checksum mismatch", "file changed by other user")
_NOT_FOUND = ("does not exist", "no such ")
_EXISTS = ("already exists", "already defined")
_NO_WORKER = "got no worker upid"
_AGENT = ("guest agent is not running", "no qemu guest agent configured", "qmp command 'guest-")
# The request never reached the target node: safe to repeat even a mutation.
_NOT_DELIVERED_STATUS = {595}
_LOST_STATUS = {502, 503, 504, 596, 597, 598, 599}


def map_status(
    status: int,
    message: str,
    errors: Mapping[str, str] | None,
    *,
    operation: str,
    mutating: bool,
) -> ProxmoxError:
    """The typed error for an HTTP error answer."""
    errors = dict(errors or {})
    text = " ".join([message, *errors.values()])
    lowered = text.lower()
    if status in (401, 403):
        return AuthFailed(status, message, errors, operation=operation)
    if status in _NOT_DELIVERED_STATUS or _NO_WORKER in lowered:
        return Unreachable(status, message, errors, operation=operation)
    if status in _LOST_STATUS:
        kind = OutcomeUnknown if mutating else Unreachable
        return kind(status, message, errors, operation=operation)
    lock = _LOCKED.search(text)
    if lock or _LOCK_TIMEOUT.search(text):
        name = lock.group(1) if lock else None
        return Locked(status, message, errors, operation=operation, lock=name)
    if any(marker in lowered for marker in _AGENT):
        return AgentNotReady(status, message, errors, operation=operation)
    if any(marker in lowered for marker in _CHECKSUM):
        return ChecksumMismatch(status, message, errors, operation=operation)
    if any(marker in lowered for marker in _EXISTS):
        return AlreadyExists(status, message, errors, operation=operation)
    if status == 404 or any(marker in lowered for marker in _NOT_FOUND):
        return NotFound(status, message, errors, operation=operation)
    if status == 400:
        return ParameterError(status, message, errors, operation=operation)
    return ProxmoxError(status, message, errors, operation=operation)


def from_resource_exception(
    exc: ResourceException, *, operation: str, mutating: bool, secrets: list[Secret]
) -> ProxmoxError:
    """Map an HTTP error answer, scrubbing secrets the call carried out of every text."""
    message = scrub(str(exc.content or exc.status_message or ""), tuple(secrets)).strip()
    return map_status(
        int(exc.status_code),
        message,
        _clean_errors(exc.errors, secrets),
        operation=operation,
        mutating=mutating,
    )


def _clean_errors(errors: object, secrets: list[Secret]) -> dict[str, str]:
    # proxmoxer wraps unparseable bodies as {"errors": b"..."}: not per-parameter errors.
    if not isinstance(errors, dict):
        return {}
    return {
        str(k): scrub(str(v), tuple(secrets)).strip()
        for k, v in errors.items()
        if isinstance(v, str)
    }


def from_requests_exception(
    exc: requests.RequestException, *, operation: str, mutating: bool
) -> ProxmoxError:
    """Map a transport failure: TLS, refused/timed-out connects, lost answers."""
    if isinstance(exc, requests.exceptions.SSLError):
        if "certificate verify failed" in str(exc).lower():
            return TLSVerificationFailed(
                0,
                "server certificate does not verify against the CA bundle",
                operation=operation,
            )
        return Unreachable(0, "TLS handshake failed", operation=operation)
    if _not_delivered(exc):
        return Unreachable(0, f"cannot connect ({type(exc).__name__})", operation=operation)
    kind = OutcomeUnknown if mutating else Unreachable
    return kind(0, f"answer lost ({type(exc).__name__})", operation=operation)


def _not_delivered(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = exc.args[0]
        if isinstance(reason, MaxRetryError):
            return isinstance(reason.reason, NewConnectionError | ConnectTimeoutError)
    return False
