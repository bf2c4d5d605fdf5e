"""Errors the simulated Proxmox API reports, in PVE's own shapes.

Raised anywhere in the world model (`pve.*`) and in parameter checks (`proxmox_api.params`);
`proxmox_api.http` turns them into a status line whose reason phrase is the message's first
line, plus a `{"data": null, "message": ..., "errors": ...}` body. Inside a task the same
error ends the task log with `TASK ERROR: <message>` (`pve.tasks`).

    PveError (500 unless told)        die "..." in a PVE handler
     └─ ParamError (400)              raise_param_exc: "Parameter verification failed."
"""

from __future__ import annotations


class PveError(Exception):
    """A failure as PVE reports it: HTTP status, message and optional per-parameter errors."""

    def __init__(
        self, message: str, *, status: int = 500, errors: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message.rstrip("\n")
        self.status = status
        self.errors = errors


class ParamError(PveError):
    """PVE's `raise_param_exc`: 400 with one message per offending parameter."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("Parameter verification failed.", status=400, errors=errors)


def param_error(name: str, message: str) -> ParamError:
    """A 400 for a single parameter."""
    return ParamError({name: message})


def config_missing(node: str, vmid: int) -> PveError:
    """What `load_config` says for a VM that is not on this node."""
    return PveError(f"Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")


def vm_locked(lock: str) -> PveError:
    """What `check_lock` says."""
    return PveError(f"VM is locked ({lock})")
