"""The synthetic estate of the benchmarks: one file per VM with its App and route.

``bench/converge.py`` converges it against the simulator; ``bench/hook.py`` pushes it
through the pre-receive hook. Sizes: 1000 objects are 10 Machines and 396 VMs (297 of
them with an App and a ProxyRoute), in 406 files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SAMPLE_REPOS = ("shop", "community")
GIT_ENV = {  # commits of the benchmarks: one author, no system config
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass(frozen=True)
class Shape:
    """How many objects of each kind make up ``total``."""

    machines: int
    vms: int
    apps: int

    @classmethod
    def of(cls, total: int) -> Shape:
        machines = max(3, round(total / 100))
        rest = total - machines
        apps = rest * 3 // 10  # and as many routes
        return cls(machines, rest - 2 * apps, apps)

    @property
    def total(self) -> int:
        return self.machines + self.vms + 2 * self.apps

    def describe(self) -> str:
        return (
            f"{self.machines} Machines, {self.vms} VMs ({self.apps} with an App), "
            f"{self.apps} Apps, {self.apps} ProxyRoutes"
        )


def machine_doc(index: int) -> str:
    return f"""apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {{name: m{index:02d}}}
spec: {{node: pve{index}, capacity: {{cores: 16, memoryMiB: 65536}}}}
"""


def vm_doc(index: int, machines: int, memory: int = 512) -> str:
    return f"""apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: vm-{index:04d}}}
spec:
  machine: m{index % machines + 1:02d}
  layer: 3
  cores: 1
  memoryMiB: {memory}
  disk: {{sizeGiB: 32}}
"""


def route_host(index: int, version: int = 0) -> str:
    return f"app-{index:04d}{f'-v{version}' if version else ''}.example.com"


def app_docs(index: int, level: str = "info", host: str | None = None) -> str:
    repo = SAMPLE_REPOS[index % len(SAMPLE_REPOS)]
    return f"""apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {{name: app-{index:04d}}}
spec:
  vm: vm-{index:04d}
  source: {{repo: https://git.example.com/edge/{repo}.git, ref: main}}
  execStart: /usr/bin/python3 app.py
  port: 8080
  healthCheck: {{path: /healthz, timeoutSeconds: 2}}
  env: {{LOG_LEVEL: {level}}}
---
apiVersion: homeport.dev/v1alpha1
kind: ProxyRoute
metadata: {{name: app-{index:04d}}}
spec: {{host: {host or route_host(index)}, app: app-{index:04d}, upstreamHealthCheck: false}}
"""


def unit_file(
    index: int, shape: Shape, *, memory: int = 512, level: str = "info", host: str | None = None
) -> str:
    """One file per VM: the VM, and its App and route when it carries one."""
    text = vm_doc(index, shape.machines, memory)
    return text + ("---\n" + app_docs(index, level, host) if index < shape.apps else "")


def estate_files(shape: Shape) -> dict[str, str]:
    """Every manifest file of the estate, by path: one per Machine, one per VM."""
    files = {f"machines/m{i:02d}.yaml": machine_doc(i) for i in range(1, shape.machines + 1)}
    files.update({f"vms/vm-{i:04d}.yaml": unit_file(i, shape) for i in range(shape.vms)})
    return files


def write_estate(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
