"""Reading one Agent's world: which VMs it selects (their labels, from the adopted
revision), which VMs it was installed on (its durable memory), and on each of those over
SSH its unit, env file, systemd state, user and packages; its port with a TCP connect.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

from homeport.clients.errors import SSHError
from homeport.kinds import VM, Agent
from homeport.reconcilers.agent.plan import AgentObserved, AgentOnVM, AgentPaths
from homeport.reconcilers.appfiles import render_env, service_unit_text, sha256, spec_env_values
from homeport.reconcilers.base import ClientAccess, DurableMemory, ReconcileContext
from homeport.reconcilers.ownership import marker
from homeport.reconcilers.packages import dpkg_query_argv, parse_dpkg_query
from homeport.reconcilers.service import parse_sha256sums

UNIT_PROPERTIES = ("ActiveState", "UnitFileState", "LoadState")
PORT_TIMEOUT = 2.0
TRACKED = "vms"
"""The memory key holding {VM name: address} of every VM the agent may be installed on."""


@dataclass(frozen=True)
class AgentSettings:
    secrets_dir: Path


def render_agent_unit(agent: Agent) -> str:
    paths = AgentPaths(agent.name)
    environment = {"HOMEPORT_AGENT": agent.name}
    if agent.spec.port is not None:
        environment["PORT"] = str(agent.spec.port)
    return service_unit_text(
        owner=("Agent", agent.name),
        description=f"homeport agent {agent.name}",
        user=agent.spec.user,
        working_directory=None,
        environment=environment,
        env_file=paths.env_path,
        exec_start=agent.spec.exec_start,
        restart=agent.spec.restart,
    )


def render_agent_env(agent: Agent, secrets_dir: Path) -> bytes:
    return render_env(spec_env_values(agent.spec, secrets_dir, {}), owner=("Agent", agent.name))


def tracked_vms(ctx: DurableMemory) -> dict[str, str]:
    return {str(k): str(v) for k, v in (ctx.recall().get(TRACKED) or {}).items()}


async def observe_agent(
    desired: Agent | None, name: str, ctx: ReconcileContext, settings: AgentSettings
) -> AgentObserved:
    paths = AgentPaths(name)
    seen = AgentObserved(name=name, paths=paths, previous=ctx.status_details("Agent", name))
    if desired is not None:
        seen = replace(
            seen,
            desired_unit_sha=sha256(render_agent_unit(desired)),
            desired_env_sha=sha256(render_agent_env(desired, settings.secrets_dir)),
        )
    tracked = tracked_vms(ctx)
    vms: dict[str, tuple[VM, str | None]] = {}
    for resource, details in ctx.objects("VM"):
        assert isinstance(resource, VM)
        address = details.get("address")
        vms[resource.name] = (resource, str(address) if address else None)
    wanted = {n for n, (vm, _) in vms.items() if desired is not None and desired.selects(vm)}
    candidates = sorted(wanted | set(tracked))
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(
                _on_vm(
                    AgentOnVM(
                        vm=vm,
                        selected=vm in wanted,
                        tracked=vm in tracked,
                        exists=vm in vms,
                        host=vms[vm][1] if vm in vms else tracked.get(vm),
                    ),
                    desired if vm in wanted else None,
                    paths,
                    ctx,
                )
            )
            for vm in candidates
        ]
    return replace(seen, vms=tuple(task.result() for task in tasks))


async def _on_vm(
    on_vm: AgentOnVM, desired: Agent | None, paths: AgentPaths, ctx: ReconcileContext
) -> AgentOnVM:
    host = on_vm.host
    if host is None or not on_vm.exists:
        return on_vm
    try:
        on_vm = await _read_vm(on_vm, host, desired, paths, ctx)
    except SSHError as exc:
        return replace(on_vm, unreachable=str(exc))
    if desired is not None and desired.spec.port is not None and on_vm.active_state == "active":
        result = await ctx.clients.prober.tcp(host, desired.spec.port, timeout=PORT_TIMEOUT)
        on_vm = replace(on_vm, port_error=None if result.ok else result.error or "no answer")
    return on_vm


async def _read_vm(
    on_vm: AgentOnVM, host: str, desired: Agent | None, paths: AgentPaths, ctx: ClientAccess
) -> AgentOnVM:
    ssh = ctx.clients.ssh
    systemd = ctx.clients.systemd
    sums = await ssh.run(host, ["sha256sum", paths.unit_path, paths.env_path], check=False)
    hashes = parse_sha256sums(sums.text)
    unit_text = await ssh.read_file(host, paths.unit_path) if paths.unit_path in hashes else None
    env_stat = await ssh.stat(host, paths.env_path) if paths.env_path in hashes else None
    show = await systemd.show(host, paths.unit_name, UNIT_PROPERTIES)
    user_exists, packages = True, {}
    if desired is not None:
        user = desired.spec.user
        user_exists = (await ssh.run(host, ["id", "-u", "--", user], check=False)).ok
        if desired.spec.packages:
            # Exit 1 when some name is unknown to dpkg: the others are still listed.
            names = [p.name for p in desired.spec.packages]
            packages = parse_dpkg_query(
                (await ssh.run(host, dpkg_query_argv(names), check=False)).text
            )
    loaded = show.get("LoadState") == "loaded"
    return replace(
        on_vm,
        owned=unit_text is None or marker("Agent", paths.name).encode() in unit_text,
        user_exists=user_exists,
        unit_sha=hashes.get(paths.unit_path),
        env_sha=hashes.get(paths.env_path),
        env_mode=env_stat.mode if env_stat else None,
        active_state=show.get("ActiveState", "inactive") if loaded else "absent",
        enabled=show.get("UnitFileState") == "enabled",
        packages=packages,
    )


__all__ = ["AgentSettings", "observe_agent", "render_agent_env", "render_agent_unit"]
