"""A homeport-owned systemd service on a VM: its unit file and 0600 EnvironmentFile, the
actions that keep them as declared, and how those actions are applied.

Shared by the App reconciler (one service per App, with releases) and the Agent reconciler
(one service per selected VM, without), which never import each other. What the files
contain is rendered by ``appfiles.py``; plans carry only their sha256. Pure: how the
actions are applied is ``service_apply.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeport.reconcilers.base import Action

DRIFT = "drift:"
"""How ``plan`` starts a reason that undoes an edit made on the VM outside homeport."""
ENV_MODE = 0o600


def _undoes_drift(why: str) -> bool:
    return any(reason.startswith(DRIFT) for reason in why.split("; "))


@dataclass(frozen=True)
class InstallUnit(Action):
    host: str
    path: str
    sha: str
    why: str
    verb = "install-unit"

    @property
    def corrects_drift(self) -> bool:
        return _undoes_drift(self.why)

    def describe(self) -> str:
        return f"install {self.path} ({self.why})"


@dataclass(frozen=True)
class InstallEnvFile(Action):
    host: str
    path: str
    sha: str
    why: str
    verb = "install-env"

    @property
    def corrects_drift(self) -> bool:
        return _undoes_drift(self.why)

    def describe(self) -> str:
        return f"write {self.path} 0600 ({self.why}; values not shown)"


@dataclass(frozen=True)
class RestartUnit(Action):
    host: str
    unit: str
    why: str
    enable: bool = True
    verb = "restart"

    @property
    def corrects_drift(self) -> bool:
        return _undoes_drift(self.why)

    def describe(self) -> str:
        return (
            f"enable and restart {self.unit} ({self.why})"
            if self.enable
            else f"restart {self.unit} ({self.why})"
        )


@dataclass(frozen=True)
class ServiceFiles:
    """The unit and env file of one service on one VM: where, what is there, what is wanted."""

    unit_path: str
    env_path: str
    unit_sha: str | None
    """sha256 of the unit file on the VM (None: missing)."""
    desired_unit_sha: str
    env_sha: str | None
    env_mode: int | None
    desired_env_sha: str


def change_reason(observed_sha: str | None, installed_sha: Any, what: str) -> str:
    """Why a file is (re)written: missing, changed on the VM (drift), or a spec change.
    ``installed_sha`` is what homeport last wrote, from the object's status or memory."""
    if observed_sha is None:
        return f"{what} missing"
    if installed_sha and observed_sha != installed_sha:
        return f"{DRIFT} {what} changed on the VM"
    return "spec changed"


def file_actions(
    host: str, files: ServiceFiles, installed: Mapping[str, Any]
) -> tuple[list[Action], list[str]]:
    """The writes that bring a service's unit and env file to the desired content, and the
    reasons the service must restart for them. ``installed`` holds ``unitSha``/``envSha``
    as homeport last wrote them."""
    actions: list[Action] = []
    reasons: list[str] = []
    if files.unit_sha != files.desired_unit_sha:
        why = change_reason(files.unit_sha, installed.get("unitSha"), "unit")
        actions.append(InstallUnit(host, files.unit_path, files.desired_unit_sha, why))
        reasons.append(why)
    wrong_mode = files.env_mode is not None and files.env_mode != ENV_MODE
    if files.env_sha != files.desired_env_sha or wrong_mode:
        why = change_reason(files.env_sha, installed.get("envSha"), "env file")
        if files.env_sha == files.desired_env_sha:
            why = f"{DRIFT} env file mode is not 0600"
        actions.append(InstallEnvFile(host, files.env_path, files.desired_env_sha, why))
        reasons.append(why)
    return actions, reasons


def parse_sha256sums(text: str) -> dict[str, str]:
    """``sha256sum`` output → {path: sha}; missing files are simply absent."""
    return {p: s for s, p in (line.split(None, 1) for line in text.splitlines() if "  " in line)}
