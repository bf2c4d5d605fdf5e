"""One App on one VM of the simulated estate, for the App's estate tests."""

from __future__ import annotations

from homeport.simulator.guest.guest import SimulatedGuest
from testkit.harness import ROOT, EstateHarness

SHOP_VM = """\
apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: shop-a}
spec: {machine: dell, disk: {sizeGiB: 40}}
---
apiVersion: homeport.dev/v1alpha1
kind: App
metadata: {name: shop-a}
spec:
  vm: shop-a
  source: {repo: https://git.example.com/edge/shop.git, ref: main}
  execStart: /usr/bin/python3 app.py
  port: 8080
"""


def shop_manifest(extra_spec: str) -> str:
    """The shop-a VM and App, with ``extra_spec`` (indented YAML) added to the App's spec."""
    return SHOP_VM + extra_spec


async def deploy_shop(h: EstateHarness, extra_spec: str) -> SimulatedGuest:
    """Push the machines and shop-a, start the daemon, wait for convergence; shop-a's guest."""
    machines = (ROOT / "manifests" / "machines" / "machines.yaml").read_text()
    await h.push(
        {"manifests/machines.yaml": machines, "manifests/shop.yaml": shop_manifest(extra_spec)}
    )
    await h.start_daemon()
    await h.converged({"Machine", "VM", "App"}, timeout=120)
    assert h.estate.pve is not None and h.estate.guests is not None
    vmid = next(v.vmid for v in h.estate.pve.world.vms.values() if v.name == "shop-a")
    return h.estate.guests.guest(vmid)
