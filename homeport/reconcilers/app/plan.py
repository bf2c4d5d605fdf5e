"""The App plan: pure. Deploy a release, keep unit/env/state as declared, roll back a
release that fails its health check, correct drift, prune old releases.

What was deployed, when, and which releases failed is remembered in the App's own status
details (``previous``), so the plan can tell a spec change from a hand edit on the VM,
and a new release's start-up from an App that fell over later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from homeport.kinds import App
from homeport.reconcilers.app.actions import (
    EnsureLayout,
    FetchRelease,
    PruneReleases,
    RemoveApp,
    RestartUnit,
    RollBack,
    SwitchRelease,
)
from homeport.reconcilers.app.artifact import FetchArtifact, mismatched_before
from homeport.reconcilers.app.build import BuildRelease, command_sha, failed_before
from homeport.reconcilers.appfiles import AppPaths
from homeport.reconcilers.base import Action, ConditionUpdate, Plan
from homeport.reconcilers.packages import InstallPackages, missing_packages
from homeport.reconcilers.service import ServiceFiles, file_actions

HEALTH_POLL = 1.0


@dataclass(frozen=True)
class AppObserved:
    """What the world says about one App (built by ``observe.py``)."""

    name: str
    paths: AppPaths
    host: str | None = None
    repo: str = ""
    release: str | None = None
    resolve_error: str | None = None
    owned: bool = True
    user_exists: bool = True
    layout_ok: bool = True
    releases: tuple[str, ...] = ()
    """Release shas on the VM, newest first."""
    current: str | None = None
    unit_sha: str | None = None
    desired_unit_sha: str = ""
    env_sha: str | None = None
    env_mode: int | None = None
    desired_env_sha: str = ""
    pair_epoch: int | None = None
    pair_role: str | None = None
    peer: str | None = None
    """The other App of its StandbyPair, if any."""
    peer_release: str | None = None
    """The release the peer runs healthily (its status), for the canary rule."""
    peer_failed: tuple[str, ...] = ()
    quarantined_by: str | None = None
    """The StandbyPair that holds this App (a returned old primary) until it stopped it."""
    active_state: str = "absent"
    enabled: bool = False
    healthy: bool | None = None
    health_error: str | None = None
    previous: Mapping[str, Any] = field(default_factory=dict)
    packages: Mapping[str, str] = field(default_factory=dict)
    """Installed Debian packages among ``spec.packages``, name → version (``dpkg-query``)."""
    built: tuple[str, ...] = ()
    """Releases whose build succeeded (``releases/<sha>.built`` on the VM)."""
    build_failure: Mapping[str, Any] = field(default_factory=dict)
    """The App's last failed build (its memory): release, commandSha, exitStatus."""
    artifact_failure: Mapping[str, Any] = field(default_factory=dict)
    """The App's last artifact checksum mismatch (its memory): url, sha256, received."""
    looked_now: bool = False
    """The VM's facts were asked in this reconcile (not a look shared from earlier in the
    window): a plan made on them may act without a second look. Not read by the plan."""


def plan_app(desired: App | None, seen: AppObserved, *, now: datetime) -> Plan:
    if desired is None:
        return _prune(seen)
    if seen.host is None:
        return Plan(waiting=f"address of VM {desired.spec.vm} unknown", requeue_after=5)
    git = desired.spec.source.git_source
    if seen.release is None and git is not None:
        return Plan(
            waiting=f"cannot resolve {git.ref} in {git.repo}: {seen.resolve_error}",
            requeue_after=30,
        )
    if seen.quarantined_by and seen.active_state == "active" and seen.healthy:
        # It serves as the old primary: the pair stops it first, once; then it is redeployed
        # as the standby. Restarting it here would fight that stop (and serve meanwhile).
        return Plan(
            waiting=f"StandbyPair {seen.quarantined_by} stops this returned old primary first",
            state_reason="Quarantined",
            requeue_after=HEALTH_POLL,
        )
    if seen.release is None:
        return _packaged(desired, seen, now)
    failed: list[str] = list(seen.previous.get("failedReleases", []))
    target = seen.release
    conditions: tuple[ConditionUpdate, ...] = ()
    if target in failed:
        conditions = (
            ConditionUpdate(
                "Degraded",
                "True",
                "ReleaseFailed",
                f"release {target[:12]} failed its health check and was rolled back; push a fix",
            ),
        )
        target = seen.current or str(seen.previous.get("release") or target)
    held = _canary(seen, target)
    if held is not None:
        target, condition = held
        conditions = (*conditions, *((condition,) if condition else ()))
    blocked = _failed_before(desired, seen, target)
    if blocked is not None:
        # The same inputs failed before: not tried again until the manifest changes.
        reason, message = blocked
        if seen.current is None:
            return Plan(waiting=message, state_reason=reason, requeue_after=60)
        conditions = (*conditions, ConditionUpdate("Degraded", "True", reason, message))
        target = seen.current
    deploy = _deploy(desired, seen, target, now)
    if deploy is not None:
        actions, details = deploy
        return Plan(actions=tuple(actions), details=details, conditions=conditions)
    plan = _steady(desired, seen, target, failed, conditions, now)
    if held is not None and held[1] is None and plan.ready:
        # Holding a new release back until the standby runs it: look again soon.
        reason = f"{plan.reason}; {seen.release[:12]} goes to the standby {seen.peer} first"
        return replace(plan, reason=reason, requeue_after=2.0)
    return plan


def _failed_before(desired: App, seen: AppObserved, target: str) -> tuple[str, str] | None:
    """(reason, message) when getting ``target`` live failed before for the same inputs:
    its artifact's checksum did not match, or its build failed with the same command."""
    artifact, build = desired.spec.source.artifact, desired.spec.build
    if (
        artifact is not None
        and target not in seen.releases
        and mismatched_before(seen.artifact_failure, artifact)
    ):
        received = str(seen.artifact_failure.get("received"))
        return "ChecksumMismatch", (
            f"{artifact.url} does not have sha256 {artifact.sha256[:12]} (received "
            f"{received[:12]}, see the ChecksumMismatch event); correct "
            "spec.source.artifact.sha256 or url"
        )
    if (
        build is not None
        and target != seen.current
        and target not in seen.built
        and failed_before(seen.build_failure, target, build)
    ):
        status = seen.build_failure.get("exitStatus")
        return "BuildFailed", (
            f"the build of release {target[:12]} exited {status} (see the BuildFailed event); "
            "push a fix to the app's repository or change spec.build"
        )
    return None


def _packaged(desired: App, seen: AppObserved, now: datetime) -> Plan:
    """``source: none``: packages, unit, env file and the service, without any release."""
    deploy = _deploy(desired, seen, None, now)
    if deploy is not None:
        actions, details = deploy
        return Plan(actions=tuple(actions), details=details)
    return _steady(desired, seen, None, [], (), now)


def _canary(seen: AppObserved, target: str) -> tuple[str, ConditionUpdate | None] | None:
    """A pair's primary takes a new release only after its standby runs it healthily;
    a release that failed on the standby never reaches the primary."""
    if seen.pair_role != "primary" or seen.current is None or target == seen.current:
        return None
    if target in seen.peer_failed:
        message = (
            f"release {target[:12]} failed on the standby {seen.peer} and was rolled back there; "
            f"the primary stays on {seen.current[:12]}"
        )
        return seen.current, ConditionUpdate("Degraded", "True", "ReleaseFailedOnStandby", message)
    if seen.peer_release != target:
        return seen.current, None  # the standby goes first (canary)
    return None


def _deploy(
    desired: App, seen: AppObserved, target: str | None, now: datetime
) -> tuple[list[Action], dict[str, Any]] | None:
    """``target`` None: a packaged service, which has no release to fetch, build or switch."""
    host, paths, prev = seen.host or "", seen.paths, seen.previous
    actions: list[Action] = []
    if not seen.user_exists or not seen.layout_ok:
        releases = target is not None
        actions.append(
            EnsureLayout(
                host, desired.spec.user, paths.root, paths.data, not seen.user_exists, releases
            )
        )
    restart_reasons = []
    packages = missing_packages(desired.spec.packages, seen.packages)
    if packages:
        # Before the release and the restart: the App's code may need them from its first start.
        actions.append(InstallPackages(host, packages))
        restart_reasons.append("packages installed")
    if target is not None and target not in seen.releases:
        actions.append(_fetch(desired, seen, target))
    build = desired.spec.build
    if (
        build is not None
        and target is not None
        and target != seen.current
        and target not in seen.built
    ):
        # Only a release about to go live is built: the running one is never rebuilt.
        path = paths.release(target)
        actions.append(BuildRelease(host, desired.spec.user, path, target, command_sha(build)))
    files = ServiceFiles(
        paths.unit_path,
        paths.env_path,
        seen.unit_sha,
        seen.desired_unit_sha,
        seen.env_sha,
        seen.env_mode,
        seen.desired_env_sha,
    )
    writes, reasons = file_actions(host, files, prev)
    actions += writes
    restart_reasons += reasons
    switching = target is not None and seen.current != target
    if target is not None and switching:
        actions.append(
            SwitchRelease(host, paths.current, paths.release(target), target, seen.current)
        )
        restart_reasons.append(f"release {target[:12]}")
    if not restart_reasons and seen.active_state != "active":
        restart_reasons.append(f"drift: found {seen.active_state}")
    if not actions and not restart_reasons and seen.enabled:
        return None
    actions.append(RestartUnit(host, paths.unit_name, "; ".join(restart_reasons) or "enable"))
    details: dict[str, Any] = {
        "release": target,
        "unitSha": seen.desired_unit_sha,
        "envSha": seen.desired_env_sha,
        "deployedAt": now.isoformat(),
        "deploying": switching or bool(prev.get("deploying")),
    }
    if switching:
        details["previousRelease"] = seen.current
    return actions, details


def _fetch(desired: App, seen: AppObserved, target: str) -> Action:
    artifact = desired.spec.source.artifact
    path = seen.paths.release(target)
    if artifact is not None:
        return FetchArtifact(seen.host or "", artifact.url, target, artifact.strip_components, path)
    return FetchRelease(seen.host or "", seen.repo, target, path)


def _steady(
    desired: App,
    seen: AppObserved,
    target: str | None,
    failed: list[str],
    conditions: tuple[ConditionUpdate, ...],
    now: datetime,
) -> Plan:
    prev = seen.previous
    details: dict[str, Any] = {"address": seen.host, "port": desired.spec.port, "release": target}
    # What is on the VM now is what homeport wants: remember it as installed, so a later
    # change is not taken for drift (a StandbyPair rewrites the env file when it promotes).
    if seen.env_sha == seen.desired_env_sha:
        details["envSha"] = seen.env_sha
    if seen.unit_sha == seen.desired_unit_sha:
        details["unitSha"] = seen.unit_sha
    if seen.pair_epoch is not None:
        details.update(epoch=seen.pair_epoch, role=seen.pair_role)
    if seen.healthy:
        details["deploying"] = False
        stale = _stale_releases(
            seen, desired.spec.keep_releases, str(prev.get("previousRelease") or "")
        )
        if stale:
            return Plan(
                actions=(PruneReleases(seen.host or "", stale),),
                details=details,
                conditions=conditions,
            )
        running = f"release {target[:12]}" if target else "packaged service"
        return Plan(
            reason=f"{seen.paths.unit_name} active, {running} healthy",
            ready=True,
            details=details,
            conditions=conditions,
        )
    error = seen.health_error or "unhealthy"
    deployed_at = prev.get("deployedAt")
    grace = desired.spec.health_check.startup_grace_seconds
    if deployed_at and (now - datetime.fromisoformat(str(deployed_at))).total_seconds() < grace:
        return Plan(
            waiting=f"waiting for the health check ({error})",
            requeue_after=HEALTH_POLL,
            details=details,
        )
    previous = prev.get("previousRelease")
    if (
        target is not None  # a packaged service has no release to go back to
        and prev.get("deploying")
        and previous
        and previous != seen.current
        and previous in seen.releases
    ):
        assert seen.current is not None
        return Plan(
            actions=(
                RollBack(
                    seen.host or "",
                    seen.paths.current,
                    seen.paths.unit_name,
                    seen.current,
                    str(previous),
                    seen.paths.release(str(previous)),
                ),
            ),
            details={
                **details,
                "release": previous,
                "previousRelease": None,
                "failedReleases": [*failed, seen.current][-10:],
                "deployedAt": now.isoformat(),
                "deploying": False,
            },
        )
    degraded = ConditionUpdate("Degraded", "True", "Unhealthy", f"health check fails: {error}")
    return Plan(
        waiting=f"health check fails: {error}",
        requeue_after=5,
        details=details,
        conditions=(degraded,),
    )


def _stale_releases(seen: AppObserved, keep: int, previous: str) -> tuple[str, ...]:
    """The oldest releases beyond ``keep`` (``seen.releases`` is newest first)."""
    protected = {seen.current, previous}
    others = [r for r in seen.releases if r not in protected]
    excess = min(len(seen.releases) - keep, len(others))
    if excess <= 0:
        return ()
    return tuple(seen.paths.release(r) for r in others[-excess:])


def _prune(seen: AppObserved) -> Plan:
    if seen.host is None:
        return Plan(reason="its VM is gone", gone=True)
    if seen.unit_sha is None and not seen.releases:
        return Plan(reason="nothing left on the VM", gone=True)
    if not seen.owned:
        return Plan(
            reason=f"{seen.paths.unit_name} is not owned by homeport; left in place", gone=True
        )
    paths = seen.paths
    return Plan(
        actions=(
            RemoveApp(seen.host, paths.unit_name, paths.unit_path, paths.env_path, paths.root),
        )
    )
