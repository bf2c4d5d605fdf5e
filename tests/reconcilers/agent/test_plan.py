"""The Agent plan is pure: per selected VM, packages, user, unit, env file and a running
unit; per VM that no longer runs it, the unit removed and the VM forgotten; one VM's
trouble never holds the others back."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from homeport.kinds import Agent
from homeport.reconcilers.agent.actions import CreateUser, ForgetVM, RemoveAgent, TrackVM
from homeport.reconcilers.agent.plan import AgentObserved, AgentOnVM, AgentPaths, plan_agent
from homeport.reconcilers.packages import InstallPackages
from homeport.reconcilers.service import InstallEnvFile, InstallUnit, RestartUnit

UNIT_SHA, ENV_SHA = "u" * 64, "e" * 64
PATHS = AgentPaths("node-exporter")


def agent(**spec: Any) -> Agent:
    return Agent.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "Agent",
            "metadata": {"name": "node-exporter"},
            "spec": {
                "selector": {"matchLabels": {"env": "production"}},
                "packages": [{"name": "prometheus-node-exporter", "version": "1.7.0-1ubuntu0.3"}],
                "execStart": "/usr/bin/prometheus-node-exporter",
                "user": "prometheus",
                "port": 9100,
                **spec,
            },
        }
    )


def converged(vm: str) -> AgentOnVM:
    return AgentOnVM(
        vm=vm,
        selected=True,
        tracked=True,
        host=f"127.0.1.{len(vm)}",
        unit_sha=UNIT_SHA,
        env_sha=ENV_SHA,
        env_mode=0o600,
        active_state="active",
        enabled=True,
        packages={"prometheus-node-exporter": "1.7.0-1ubuntu0.3"},
    )


def observed(*vms: AgentOnVM, previous: dict[str, Any] | None = None) -> AgentObserved:
    return AgentObserved(
        name="node-exporter",
        paths=PATHS,
        vms=vms,
        desired_unit_sha=UNIT_SHA,
        desired_env_sha=ENV_SHA,
        previous=previous or {"unitSha": UNIT_SHA, "envSha": ENV_SHA},
    )


def test_a_fresh_vm_gets_everything_in_order() -> None:
    fresh = AgentOnVM(vm="web", selected=True, tracked=False, host="127.0.1.5", user_exists=False)
    plan = plan_agent(agent(), observed(fresh, previous={}))
    assert [type(a) for a in plan.actions] == [
        TrackVM,
        CreateUser,
        InstallPackages,
        InstallUnit,
        InstallEnvFile,
        RestartUnit,
    ]
    install = plan.actions[2]
    assert isinstance(install, InstallPackages)
    assert install.specs == ("prometheus-node-exporter=1.7.0-1ubuntu0.3",)
    restart = plan.actions[-1]
    assert (
        isinstance(restart, RestartUnit) and restart.unit == "homeport-agent-node-exporter.service"
    )
    assert not plan.ready


def test_converged_plans_nothing_and_reports_every_vm() -> None:
    plan = plan_agent(agent(), observed(converged("web-a"), converged("web-b")))
    assert plan.actions == ()
    assert plan.ready
    assert plan.details["selected"] == 2 and plan.details["ready"] == 2
    assert plan.details["vms"] == {"web-a": "Ready", "web-b": "Ready"}
    assert plan.details["failed"] == []


def test_a_hand_edited_unit_is_drift_and_restarts_the_agent() -> None:
    edited = replace(converged("web"), unit_sha="x" * 64)
    plan = plan_agent(agent(), observed(edited))
    unit, restart = plan.actions
    assert isinstance(unit, InstallUnit) and unit.corrects_drift
    assert isinstance(restart, RestartUnit) and "drift" in restart.why


def test_a_stopped_agent_is_started_again() -> None:
    plan = plan_agent(agent(), observed(replace(converged("web"), active_state="failed")))
    (restart,) = plan.actions
    assert isinstance(restart, RestartUnit) and restart.why == "drift: found failed"


def test_a_vm_that_stops_matching_loses_the_unit_but_keeps_its_packages() -> None:
    left = replace(converged("web-b"), selected=False)
    plan = plan_agent(agent(), observed(converged("web-a"), left))
    remove, forget = plan.actions
    assert isinstance(remove, RemoveAgent) and remove.vm == "web-b"
    assert remove.unit_path == "/etc/systemd/system/homeport-agent-node-exporter.service"
    assert "packages are kept" in remove.describe()
    assert isinstance(forget, ForgetVM) and forget.vm == "web-b"
    assert not any(isinstance(a, InstallPackages) for a in plan.actions)


def test_a_vm_gone_from_the_estate_is_forgotten() -> None:
    gone = AgentOnVM(vm="old", selected=False, tracked=True, exists=False)
    plan = plan_agent(agent(), observed(converged("web"), gone))
    assert plan.actions == (ForgetVM("old", "the VM is gone"),)


def test_an_unreachable_vm_is_reported_and_the_others_still_converge() -> None:
    down = AgentOnVM(
        vm="web-a", selected=True, tracked=True, host="127.0.1.5", unreachable="timeout"
    )
    fresh = replace(converged("web-b"), unit_sha=None)
    plan = plan_agent(agent(), observed(down, fresh))
    assert [a.host for a in plan.actions if isinstance(a, InstallUnit)] == [fresh.host]
    quiet = plan_agent(agent(), observed(down, converged("web-b")))
    assert quiet.actions == () and not quiet.ready
    assert quiet.details["failed"] == ["web-a"]
    assert quiet.details["vms"]["web-a"] == "unreachable: timeout"
    assert any(c.type == "Degraded" for c in quiet.conditions)


def test_a_foreign_unit_is_never_overwritten() -> None:
    foreign = replace(converged("web"), owned=False, unit_sha="f" * 64)
    plan = plan_agent(agent(), observed(foreign))
    assert plan.actions == ()
    assert "is not homeport's" in plan.details["vms"]["web"]


def test_a_port_that_does_not_answer_keeps_the_agent_unready() -> None:
    plan = plan_agent(agent(), observed(replace(converged("web"), port_error="refused")))
    assert plan.actions == () and not plan.ready
    assert plan.details["vms"]["web"] == "port 9100 does not answer: refused"


def test_a_selector_selecting_nothing_waits() -> None:
    plan = plan_agent(agent(), observed())
    assert plan.actions == () and not plan.ready
    assert plan.state_reason == "NoVMSelected"


def test_deleting_the_agent_removes_it_everywhere_then_forgets_the_object() -> None:
    a, b = replace(converged("web-a"), selected=False), replace(converged("web-b"), selected=False)
    plan = plan_agent(None, observed(a, b))
    assert [type(x) for x in plan.actions] == [RemoveAgent, ForgetVM, RemoveAgent, ForgetVM]
    assert not plan.gone
    done = plan_agent(None, observed())
    assert done.gone and done.actions == ()


def test_a_foreign_unit_on_a_vm_that_stops_matching_is_left_in_place() -> None:
    foreign = replace(converged("web"), selected=False, owned=False)
    plan = plan_agent(None, observed(foreign))
    (forget,) = plan.actions
    assert isinstance(forget, ForgetVM) and "left in place" in forget.why
