"""What one resync of a converged estate's VMs costs in Proxmox requests, counted on the
wire (the simulator's exchange tap): per VM and reconcile, one ``pending`` read (the config
and its pending changes) and, for a managed firewall, its options and rules; no guest agent
read for a VM whose tailnet device is connected at its known address with its host key
pinned; the cluster lists shared; nothing written. A guest that hangs drops off the tailnet
and is read through its agent again (not Ready). Counts of requests, never wall-clock."""

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
PER_VM = {"pending", "firewall/options", "firewall/rules"}
AGENT = "agent/network-get-interfaces"


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
            heard.clear()

        reconciles = Counter(o.key[1] for o in outcomes if o.key[0] == "VM")
        assert set(reconciles) == {name for _, name in vms}
        assert all(o.result == "converged" for o in outcomes if o.key[0] == "VM"), outcomes
        assert [e for e in exchanges if e.method != "GET"] == []  # zero mutating calls
        per_vm: Counter[tuple[str, str]] = Counter()
        for e in exchanges:
            found = VM_PATH.match(e.path)
            if found:
                per_vm[(found[1], found[2])] += 1
        # Every VM of the example estate is on the tailnet: no agent read at all.
        assert {what for _, what in per_vm} <= PER_VM, per_vm
        vmids = {vmid for vmid, _ in per_vm}
        assert len(vmids) == len(vms)
        looks = sum(reconciles.values())
        # One config read per reconcile (no GET config beside GET pending), never more.
        assert sum(n for (_, what), n in per_vm.items() if what == "pending") == looks
        assert sum(per_vm.values()) <= len(PER_VM) * looks
        shared = Counter(e.path for e in exchanges if e.path.startswith("/cluster/"))
        assert shared["/cluster/resources"] <= looks

        # Drift is still seen: a hung guest drops off the tailnet; its next look reads the
        # agent, which does not answer, and the VM is no longer Ready.
        dev = h.object("VM", "dev-1")
        assert dev is not None and dev.ready
        await h.estate.guests.hang_vm(int(dev.status.details["vmid"]))
        engine.context.invalidate_all()  # the window of the last tailnet read is over
        with listening(hear):
            engine.queue.add(("VM", "dev-1"))
            await until(lambda: not engine.queue.busy(), what="a look at the hung VM")
        with lock:
            agent_reads = [e for e in heard if e.path.endswith(AGENT)]
        dev = h.object("VM", "dev-1")
        assert dev is not None and not dev.ready
        assert "guest agent" in str(dev.status.conditions), dev.status
        assert len(agent_reads) >= 1
