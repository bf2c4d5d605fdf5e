"""The changes the App reconciler makes on a VM, as values (no secret ever in them); the
unit, env file and restart actions are shared with the Agent reconciler (``service.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from homeport.reconcilers.base import Action
from homeport.reconcilers.service import DRIFT, InstallEnvFile, InstallUnit, RestartUnit

__all__ = [
    "DRIFT",
    "EnsureLayout",
    "FetchRelease",
    "InstallEnvFile",
    "InstallUnit",
    "PruneReleases",
    "RemoveApp",
    "RestartUnit",
    "RollBack",
    "SwitchRelease",
]


@dataclass(frozen=True)
class EnsureLayout(Action):
    host: str
    user: str
    root: str
    data: str
    create_user: bool
    releases: bool = True
    """False for a packaged service (source none): it has no releases directory."""
    verb = "prepare"

    def describe(self) -> str:
        who = f"create system user {self.user}, " if self.create_user else ""
        if not self.releases:
            return f"{who}create {self.data}"
        return f"{who}create {self.root}/releases and {self.data}"


@dataclass(frozen=True)
class FetchRelease(Action):
    host: str
    repo: str
    sha: str
    target: str
    verb = "fetch"

    def describe(self) -> str:
        return f"check out {self.repo} at {self.sha[:12]} into {self.target}"


@dataclass(frozen=True)
class SwitchRelease(Action):
    host: str
    link: str
    target: str
    sha: str
    previous: str | None
    verb = "switch-release"

    def describe(self) -> str:
        was = f" (was {self.previous[:12]})" if self.previous else ""
        return f"point {self.link} at release {self.sha[:12]}{was}"


@dataclass(frozen=True)
class RollBack(Action):
    host: str
    link: str
    unit: str
    failed: str
    to: str
    to_path: str
    verb = "rollback"

    def describe(self) -> str:
        return f"roll back {self.unit}: release {self.failed[:12]} failed its health check, back to {self.to[:12]}"


@dataclass(frozen=True)
class PruneReleases(Action):
    host: str
    paths: tuple[str, ...]
    verb = "prune-releases"

    def describe(self) -> str:
        return f"remove {len(self.paths)} old release(s): " + ", ".join(
            p.rsplit("/", 1)[-1][:12] for p in self.paths
        )


@dataclass(frozen=True)
class RemoveApp(Action):
    host: str
    unit: str
    unit_path: str
    env_path: str
    root: str
    verb = "remove"

    def describe(self) -> str:
        return (
            f"stop and disable {self.unit}, remove its unit, env file and releases (data is kept)"
        )
