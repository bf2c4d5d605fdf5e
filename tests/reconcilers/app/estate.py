"""One App on a VM of its own in the simulated estate, for the App's estate tests."""

from __future__ import annotations

from homeport.simulator.guest.guest import SimulatedGuest
from testkit.harness import ROOT, EstateHarness


def vm_and_app(name: str, spec: str) -> str:
    """A VM on Machine dell and an App of the same name on it; ``spec`` (indented YAML)
    is the App's spec after ``vm``."""
    return f"""\
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {{name: {name}}}
spec: {{machine: dell, disk: {{sizeGiB: 40}}}}
---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {{name: {name}}}
spec:
  vm: {name}
{spec}"""


SHOP_VM = vm_and_app(
    "shop-a",
    """\
  source: {repo: https://git.example.com/edge/shop.git, ref: main}
  execStart: /usr/bin/python3 app.py
  port: 8080
""",
)


def shop_manifest(extra_spec: str) -> str:
    """The shop-a VM and App, with ``extra_spec`` (indented YAML) added to the App's spec."""
    return SHOP_VM + extra_spec


async def deploy_app(
    h: EstateHarness, manifest: str, *, vm: str = "shop-a", file: str = "manifests/shop.yaml"
) -> SimulatedGuest:
    """Push the machines and ``manifest`` (as ``file``), start the daemon, wait for
    convergence; the guest of VM ``vm``."""
    machines = (ROOT / "manifests" / "machines" / "machines.yaml").read_text()
    await h.push({"manifests/machines.yaml": machines, file: manifest})
    await h.start_daemon()
    await h.converged({"Machine", "VM", "App"}, timeout=120)
    assert h.estate.pve is not None and h.estate.guests is not None
    vmid = next(v.vmid for v in h.estate.pve.world.vms.values() if v.name == vm)
    return h.estate.guests.guest(vmid)


async def deploy_shop(h: EstateHarness, extra_spec: str) -> SimulatedGuest:
    """Push the machines and shop-a, start the daemon, wait for convergence; shop-a's guest."""
    return await deploy_app(h, shop_manifest(extra_spec))
