"""A small estate for the control-plane tests and the take-over benchmark: two Machines
and ``count`` VMs, each with an App and its ProxyRoute, as the files of a push."""

from __future__ import annotations

from testkit.ha.planes import Plane


def vm(name: str, machine: str) -> str:
    return f"""apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: {name}}}
spec: {{machine: {machine}, cores: 1, memoryMiB: 1024, disk: {{sizeGiB: 16}}}}
"""


def app(name: str) -> str:
    return f"""apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {{name: {name}}}
spec:
  vm: {name}
  source: {{repo: https://git.example.com/edge/shop.git, ref: main}}
  execStart: /usr/bin/python3 app.py
  port: 8080
  healthCheck: {{path: /healthz, timeoutSeconds: 2}}
---
apiVersion: homeport.dev/v1alpha1
kind: ProxyRoute
metadata: {{name: {name}}}
spec: {{host: {name}.example.com, app: {name}}}
"""


MACHINES = """apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m1}
spec: {node: pve1, capacity: {cores: 16, memoryMiB: 65536}}
---
apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {name: m2}
spec: {node: pve2, capacity: {cores: 16, memoryMiB: 65536}}
"""


def small_estate(count: int) -> dict[str, str | None]:
    files: dict[str, str | None] = {"manifests/machines.yaml": MACHINES}
    for i in range(1, count + 1):
        name = f"web-{i}"
        files[f"manifests/{name}.yaml"] = vm(name, f"m{1 + i % 2}") + "---\n" + app(name)
    return files


def converged(plane: Plane) -> bool:
    objects = plane.objects()
    return bool(objects) and all(
        o.ready and not o.deleting and o.status.observed_generation == o.generation for o in objects
    )


def app_env(name: str, level: str) -> dict[str, str | None]:
    text = app(name).replace(
        "  healthCheck: {path: /healthz, timeoutSeconds: 2}\n",
        f"  healthCheck: {{path: /healthz, timeoutSeconds: 2}}\n  env: {{LOG_LEVEL: {level}}}\n",
    )
    return {f"manifests/{name}.yaml": vm(name, f"m{1 + int(name[-1]) % 2}") + "---\n" + text}
