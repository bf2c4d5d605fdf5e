"""The Agent reconciler: observe and plan wired for the engine, and ``act``, which installs,
updates or removes the service on one VM per action."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from homeport.clients.ssh import SSHPool
from homeport.clients.systemd import Systemd
from homeport.kinds import Agent
from homeport.reconcilers.agent.actions import CreateUser, ForgetVM, RemoveAgent, TrackVM
from homeport.reconcilers.agent.observe import (
    TRACKED,
    AgentSettings,
    observe_agent,
    render_agent_env,
    render_agent_unit,
    tracked_vms,
)
from homeport.reconcilers.agent.plan import AgentObserved, plan_agent
from homeport.reconcilers.base import (
    Action,
    DurableMemory,
    Plan,
    ReconcileContext,
    Reconciler,
    own_desired,
)
from homeport.reconcilers.packages import InstallPackages
from homeport.reconcilers.packages_apply import install_packages
from homeport.reconcilers.service import InstallEnvFile, InstallUnit, RestartUnit
from homeport.reconcilers.service_apply import (
    add_system_user,
    on_vm,
    remove_unit,
    restart_unit,
    write_env_file,
    write_unit,
)

__all__ = ["AgentObserved", "AgentReconciler", "AgentSettings", "plan_agent"]


class AgentReconciler(Reconciler[Agent, AgentObserved]):
    kind: ClassVar[str] = "Agent"
    uses = frozenset({"ssh", "systemd", "prober"})
    # A VM that is down must not hold the agent back on the others: each VM is waited
    # for on its own in the plan.
    gated_by: ClassVar[frozenset[str] | None] = frozenset()

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings

    async def observe(
        self, desired: Agent | None, name: str, ctx: ReconcileContext
    ) -> AgentObserved:
        return await observe_agent(desired, name, ctx, self.settings)

    def plan(self, desired: Agent | None, observed: AgentObserved, *, now: datetime) -> Plan:
        return plan_agent(desired, observed)

    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        await on_vm(ctx, lambda ssh, systemd: self._act(action, ctx, ssh, systemd))

    async def _act(
        self, action: Action, ctx: ReconcileContext, ssh: SSHPool, systemd: Systemd
    ) -> None:
        if isinstance(action, TrackVM):
            _track(ctx, {**tracked_vms(ctx), action.vm: action.host})
        elif isinstance(action, CreateUser):
            options = ("--no-create-home", "--shell", "/usr/sbin/nologin")
            await add_system_user(ssh, action.host, action.user, *options)
        elif isinstance(action, InstallPackages):
            await install_packages(ssh, action)
        elif isinstance(action, InstallUnit):
            await write_unit(ssh, systemd, action, render_agent_unit(own_desired(ctx, Agent)))
        elif isinstance(action, InstallEnvFile):
            content = render_agent_env(own_desired(ctx, Agent), self.settings.secrets_dir)
            await write_env_file(ssh, action, content)
        elif isinstance(action, RestartUnit):
            await restart_unit(systemd, action)
        elif isinstance(action, RemoveAgent):
            files = (action.unit_path, action.env_path)
            await remove_unit(ssh, systemd, action.host, action.unit, files)
        elif isinstance(action, ForgetVM):
            _track(ctx, {vm: a for vm, a in tracked_vms(ctx).items() if vm != action.vm})
        else:
            raise TypeError(f"the Agent reconciler cannot perform {action!r}")


def _track(ctx: DurableMemory, vms: dict[str, str]) -> None:
    ctx.remember({TRACKED: dict(sorted(vms.items()))})
