"""Agent: one systemd service on every VM a label selector picks (node-exporter, promtail).

The estate's DaemonSet: per-VM services that are not the VM's App (they never count
against ``maxApps``), packaged from apt and run by one unit each, like an App's unit but
without a release. Selects VMs (``vm.py``); converged over SSH by ``reconcilers/agent/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from homeport.kinds.app import EnvFrom, Package, SecretEnv, ServiceSpec
from homeport.kinds.backuppolicy import VMSelector
from homeport.kinds.common import UNIT_PREFIX, EnvName, ObjectRef, RefPath, Resource
from homeport.kinds.textrules import UserName

if TYPE_CHECKING:
    from homeport.kinds.vm import VM

AGENT_UNIT_PREFIX = f"{UNIT_PREFIX}agent-"


class AgentSpec(ServiceSpec):
    """Desired state of an Agent."""

    selector: VMSelector
    """The VMs that run the agent: those named and those carrying all of `matchLabels`. A VM
    that stops matching has the agent's unit stopped and removed (its packages stay)."""
    packages: list[Package] = Field(default_factory=list)
    """Debian packages installed with apt before the unit starts, pinned when a version is
    given (e.g. `prometheus-node-exporter`). Never removed by homeport."""
    exec_start: str
    """The service's command line in systemd `ExecStart=` syntax (one line; `%%` for a literal
    `%`), e.g. `/usr/bin/prometheus-node-exporter`."""
    user: UserName = "nobody"
    """Unix user the service runs as (created as a system user when missing)."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """TCP port the agent listens on, if any (given to it as `PORT`): checked with a TCP
    connect on the VM's address for readiness, and refused when an App on a selected VM
    uses it."""
    env: dict[EnvName, str] = Field(default_factory=dict)
    """Plain, non-secret environment variables. Secrets here are rejected: use `secretEnv`."""
    secret_env: list[SecretEnv] = Field(default_factory=list)
    """Environment variables read from files in the control plane's secrets directory."""
    env_from: list[EnvFrom] = Field(default_factory=list)
    """Dotenv files in the secrets directory merged into the EnvironmentFile."""
    restart: Literal["always", "on-failure", "no"] = "always"
    """systemd `Restart=` policy."""


class Agent(Resource):
    """A service on every selected VM, beside (never counted as) the VM's App."""

    kind_name: ClassVar[str] = "Agent"
    plural: ClassVar[str] = "agents"
    short_names: ClassVar[tuple[str, ...]] = ("agent",)

    kind: Literal["Agent"]
    """Always `Agent`."""
    spec: AgentSpec
    """Desired state."""

    def selects(self, vm: VM) -> bool:
        """Whether ``vm`` runs this agent: named, or carrying all of its matchLabels."""
        selector = self.spec.selector
        return vm.name in selector.names or selector.matches_labels(vm.metadata.labels)

    @property
    def unit_name(self) -> str:
        return agent_unit_name(self.name)

    def reference_paths(self) -> list[tuple[RefPath, ObjectRef]]:
        return [
            (("spec", "selector", "names", i), ObjectRef(kind="VM", name=name))
            for i, name in enumerate(self.spec.selector.names)
        ]


def agent_unit_name(name: str) -> str:
    return f"{AGENT_UNIT_PREFIX}{name}.service"
