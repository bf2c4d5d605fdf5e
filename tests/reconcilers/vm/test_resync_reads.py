"""What one resync of a converged estate's VMs costs in Proxmox requests, counted on the
wire (the simulator's exchange tap): per VM and reconcile, one ``pending`` read (the config
and its pending changes), the guest agent's interfaces (no separate ping) and, for a
managed firewall, its options and rules; the cluster lists shared; nothing written.
Counts of requests, never wall-clock."""

from __future__ import annotations

import re
import threading
from collections import Counter
from pathlib import Path

import pytest

from homeport.controller.engine import Outcome
from homeport.simulator.proxmox_api.exchanges import Exchange, listening
from testkit.harness import EstateHarness, until

pytestmark = pytest.mark.integration
KINDS = {"Machine", "VM", "App", "StandbyPair", "ProxyRoute"}
VM_PATH = re.compile(r"^/nodes/[^/]+/qemu/(\d+)/(.+)$")
PER_VM = {"pending", "agent/network-get-interfaces", "firewall/options", "firewall/rules"}


async def test_a_converged_resync_reads_each_vm_once_per_fact(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path) as h:
        await h.settled(KINDS, timeout=120)
        assert h.daemon is not None and h.daemon.engine is not None
        engine = h.daemon.engine
        heard: list[Exchange] = []
        lock = threading.Lock()
        outcomes: list[Outcome] = []

        def hear(exchange: Exchange) -> None:
            with lock:
                heard.append(exchange)

        engine.observers.append(lambda outcome, _: outcomes.append(outcome))
        vms = [o.key for o in h.objects() if o.kind == "VM"]
        with listening(hear):
            for key in vms:
                engine.queue.add(key)
            await until(lambda: not engine.queue.busy(), what="a resync of every VM")
        with lock:
            exchanges = list(heard)

        reconciles = Counter(o.key[1] for o in outcomes if o.key[0] == "VM")
        assert set(reconciles) == {name for _, name in vms}
        assert all(o.result == "converged" for o in outcomes if o.key[0] == "VM"), outcomes
        assert [e for e in exchanges if e.method != "GET"] == []  # zero mutating calls
        per_vm: Counter[tuple[str, str]] = Counter()
        for e in exchanges:
            found = VM_PATH.match(e.path)
            if found:
                per_vm[(found[1], found[2])] += 1
        assert {what for _, what in per_vm} <= PER_VM, per_vm
        vmids = {vmid for vmid, _ in per_vm}
        assert len(vmids) == len(vms)
        looks = sum(reconciles.values())
        # One config read per reconcile (no GET config beside GET pending), never more.
        assert sum(n for (_, what), n in per_vm.items() if what == "pending") == looks
        assert sum(per_vm.values()) <= len(PER_VM) * looks
        shared = Counter(e.path for e in exchanges if e.path.startswith("/cluster/"))
        assert shared["/cluster/resources"] <= looks
