"""The Agent plan: pure. On every selected VM: the packages, the user, the unit and env file
as declared, the unit enabled and running (and its port answering); on every VM that ran
it and is no longer selected (or every VM, once the Agent is deleted): the unit removed.

One VM's trouble (unreachable, a foreign unit in the way, a port not answering) is
reported for that VM; the other VMs are still converged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeport.kinds import Agent
from homeport.kinds.agent import agent_unit_name
from homeport.reconcilers.agent.actions import CreateUser, ForgetVM, RemoveAgent, TrackVM
from homeport.reconcilers.base import Action, ConditionUpdate, Plan
from homeport.reconcilers.packages import InstallPackages, missing_packages
from homeport.reconcilers.service import RestartUnit, ServiceFiles, file_actions

READY = "Ready"
RECHECK = 5.0


@dataclass(frozen=True)
class AgentPaths:
    name: str

    @property
    def unit_name(self) -> str:
        return agent_unit_name(self.name)

    @property
    def unit_path(self) -> str:
        return f"/etc/systemd/system/{self.unit_name}"

    @property
    def env_path(self) -> str:
        return f"/etc/homeport/agents/{self.name}.env"


@dataclass(frozen=True)
class AgentOnVM:
    """What one VM says about the agent (built by ``observe.py``)."""

    vm: str
    selected: bool
    tracked: bool
    """In the Agent's memory: homeport may have installed it there."""
    exists: bool = True
    """The VM is still in the estate."""
    host: str | None = None
    unreachable: str | None = None
    owned: bool = True
    user_exists: bool = True
    unit_sha: str | None = None
    env_sha: str | None = None
    env_mode: int | None = None
    active_state: str = "absent"
    enabled: bool = False
    packages: Mapping[str, str] = field(default_factory=dict)
    port_error: str | None = None
    """Why the agent's port does not answer (None: it does, or there is no port)."""


@dataclass(frozen=True)
class AgentObserved:
    name: str
    paths: AgentPaths
    vms: tuple[AgentOnVM, ...] = ()
    desired_unit_sha: str = ""
    desired_env_sha: str = ""
    previous: Mapping[str, Any] = field(default_factory=dict)
    """The Agent's status details as last published (``unitSha``/``envSha``)."""


def plan_agent(desired: Agent | None, seen: AgentObserved) -> Plan:
    actions: list[Action] = []
    verdicts: dict[str, str] = {}
    for on_vm in seen.vms:
        if desired is not None and on_vm.selected:
            vm_actions, verdict = _converge(desired, seen, on_vm)
            verdicts[on_vm.vm] = verdict
        else:
            vm_actions = _remove(seen.paths, on_vm)
        actions += vm_actions
    if desired is None:
        if actions:
            return Plan(actions=tuple(actions))
        return Plan(reason="removed from every VM", gone=True)
    details = _details(seen, verdicts)
    if actions:
        return Plan(actions=tuple(actions), details=details)
    return _report(desired, details, verdicts)


def _converge(desired: Agent, seen: AgentObserved, on_vm: AgentOnVM) -> tuple[list[Action], str]:
    """Actions for one selected VM, and its verdict (``Ready`` or what is wrong)."""
    paths = seen.paths
    if on_vm.host is None:
        return [], "waiting for its address"
    if on_vm.unreachable is not None:
        return [], f"unreachable: {on_vm.unreachable}"
    if not on_vm.owned:
        return [], f"{paths.unit_path} exists and is not homeport's: remove it or rename the Agent"
    host = on_vm.host
    actions: list[Action] = []
    if not on_vm.tracked:
        actions.append(TrackVM(on_vm.vm, host))
    if not on_vm.user_exists:
        actions.append(CreateUser(host, desired.spec.user))
    reasons: list[str] = []
    missing = missing_packages(desired.spec.packages, on_vm.packages)
    if missing:
        actions.append(InstallPackages(host, missing))
        reasons.append("packages installed")
    files = ServiceFiles(
        paths.unit_path,
        paths.env_path,
        on_vm.unit_sha,
        seen.desired_unit_sha,
        on_vm.env_sha,
        on_vm.env_mode,
        seen.desired_env_sha,
    )
    writes, write_reasons = file_actions(host, files, seen.previous)
    actions += writes
    reasons += write_reasons
    if not reasons and on_vm.active_state != "active":
        reasons.append(f"drift: found {on_vm.active_state}")
    if reasons or not on_vm.enabled:
        actions.append(RestartUnit(host, paths.unit_name, "; ".join(reasons) or "enable"))
    if actions:
        return actions, "converging"
    if on_vm.port_error is not None:
        return [], f"port {desired.spec.port} does not answer: {on_vm.port_error}"
    return [], READY


def _remove(paths: AgentPaths, on_vm: AgentOnVM) -> list[Action]:
    """A VM that ran the agent and no longer should: its unit goes, then the VM is forgotten."""
    if not on_vm.tracked:
        return []
    if not on_vm.exists:
        return [ForgetVM(on_vm.vm, "the VM is gone")]
    if on_vm.host is None or on_vm.unreachable is not None:
        return []  # looked at again on the next pass; the VM stays tracked meanwhile
    if on_vm.unit_sha is None and on_vm.env_sha is None:
        return [ForgetVM(on_vm.vm, "nothing of the agent is left on it")]
    if not on_vm.owned:
        return [ForgetVM(on_vm.vm, f"{paths.unit_name} is not homeport's; left in place")]
    remove = RemoveAgent(on_vm.vm, on_vm.host, paths.unit_name, paths.unit_path, paths.env_path)
    return [remove, ForgetVM(on_vm.vm, "agent removed")]


def _details(seen: AgentObserved, verdicts: Mapping[str, str]) -> dict[str, Any]:
    return {
        "unit": seen.paths.unit_name,
        "selected": len(verdicts),
        "ready": sum(v == READY for v in verdicts.values()),
        "vms": dict(sorted(verdicts.items())),
        "failed": sorted(vm for vm, v in verdicts.items() if v not in (READY, "converging")),
        "unitSha": seen.desired_unit_sha,
        "envSha": seen.desired_env_sha,
    }


def _report(desired: Agent, details: dict[str, Any], verdicts: Mapping[str, str]) -> Plan:
    summary = f"{details['ready']}/{details['selected']} selected VMs run {details['unit']}"
    if not verdicts:
        return Plan(
            waiting="its selector selects no VM", state_reason="NoVMSelected", details=details
        )
    failed = {vm: v for vm, v in verdicts.items() if v != READY}
    if not failed:
        return Plan(reason=summary, ready=True, details=details)
    listed = "; ".join(f"{vm}: {why}" for vm, why in sorted(failed.items()))
    degraded = ConditionUpdate("Degraded", "True", "AgentNotReady", f"{summary}; {listed}")
    return Plan(
        waiting=f"{summary}; {listed}",
        requeue_after=RECHECK,
        details=details,
        conditions=(degraded,),
    )
