"""Agents across manifests: what an Agent would collide with on the VMs it selects.

One check of ``validate.py``'s ``CHECKS``: on every VM an Agent selects, its unit must not
be an App's unit (both would write the same file), and its port must not be one an App or
another Agent on that VM listens on (the second to start would fail to bind). Agents never
count against ``maxApps``: that check only counts Apps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from homeport.kinds import VM, Agent, App
from homeport.kinds.common import UNIT_PREFIX
from homeport.source.errors import ManifestError
from homeport.source.manifests import LoadedObject

if TYPE_CHECKING:
    from homeport.source.validate import Estate


def check_agent_clashes(estate: Estate) -> Iterator[ManifestError]:
    apps_on: dict[str, list[LoadedObject]] = {}
    for obj in estate.of_kind("App"):
        assert isinstance(obj.resource, App)
        apps_on.setdefault(obj.resource.spec.vm, []).append(obj)
    ports: dict[tuple[str, int], LoadedObject] = {}
    for obj in estate.of_kind("Agent"):
        agent = obj.resource
        assert isinstance(agent, Agent)
        for vm_obj in estate.of_kind("VM"):
            vm = vm_obj.resource
            assert isinstance(vm, VM)
            if not agent.selects(vm):
                continue
            for app_obj in apps_on.get(vm.name, []):
                yield from _app_clash(obj, agent, vm.name, app_obj)
            if agent.spec.port is not None:
                first = ports.setdefault((vm.name, agent.spec.port), obj)
                if first is not obj:
                    yield obj.error(
                        ("spec", "port"),
                        f"port {agent.spec.port} on VM {vm.name!r} is already used by Agent "
                        f"{first.name!r} ({first.file}:{first.line})",
                        "give one of the agents another port",
                    )


def _app_clash(
    obj: LoadedObject, agent: Agent, vm: str, app_obj: LoadedObject
) -> Iterator[ManifestError]:
    app = app_obj.resource
    assert isinstance(app, App)
    where = f"App {app.name!r} on VM {vm!r} ({app_obj.file}:{app_obj.line})"
    if f"{UNIT_PREFIX}{app.name}.service" == agent.unit_name:
        yield obj.error(
            ("metadata", "name"),
            f"its unit {agent.unit_name} is the unit of {where}",
            "rename the Agent or the App",
        )
    if agent.spec.port is not None and agent.spec.port == app.spec.port:
        yield obj.error(
            ("spec", "port"),
            f"port {agent.spec.port} is already used by {where}",
            "give the agent another port (or the App, in its manifest)",
        )
