"""What a scenario asserts about a simulated estate after the controller is done with it.

The world is read straight from the world, never from homeport's store: the Proxmox
world (VMs, their ownership marker and tag, backup jobs, finished ``qmclone`` tasks listed
through the API), Caddy's running config (through its admin API), the tailnet's devices
and the guests' disks. The store is read only for what is homeport's own: the journal,
vmid reservations and restore tests in progress. Every check returns a list of problems;
an empty list is a clean estate.
"""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from homeport.controller.store import Store
from homeport.simulator.estate import SimulatedEstate

MARKER = "managed by homeport: "
OWNER_TAG = "homeport"
ROUTE_PREFIX = "homeport-route-"
AUTH_KEY_FILE = "/etc/homeport/tailscale-authkey"
JOURNAL_END_STATES = {"done", "failed", "interrupted"}


def _owner(description: str) -> str | None:
    for line in description.splitlines():
        if line.startswith(MARKER):
            return line.removeprefix(MARKER).strip()
    return None


def restore_tests_in_progress(store_path: Path) -> set[int]:
    """Scratch VMIDs of BackupPolicy restore tests in progress (the policy's durable memory):
    a restore test runs beside a Ready policy, its scratch VM is owned, not orphaned."""
    store = Store.open(store_path, readonly=True)
    try:
        policies = store.objects.of_kind("BackupPolicy")
        tests = [store.memory.get("BackupPolicy", p.name).get("test") for p in policies]
    finally:
        store.close()
    return {int(t["vmid"]) for t in tests if isinstance(t, dict) and "vmid" in t}


def vm_problems(estate: SimulatedEstate, declared: set[str], scratch: set[int]) -> list[str]:
    """Exactly one VM per manifest, by name and by ownership marker; none without one
    except the scratch VMs of restore tests in progress (``scratch``)."""
    assert estate.pve is not None
    vms = [vm for vm in estate.pve.world.vms.values() if not vm.is_template]
    problems: list[str] = []
    names = Counter(vm.name for vm in vms)
    owners = Counter(_owner(str(vm.conf.get("description", ""))) for vm in vms)
    for name in sorted(declared):
        if names[name] != 1:
            problems.append(f"{names[name]} VMs named {name!r} (want 1)")
        if owners[f"VM/{name}"] != 1:
            problems.append(f"{owners[f'VM/{name}']} VMs marked as VM/{name} (want 1)")
    for vm in vms:
        owner = _owner(str(vm.conf.get("description", "")))
        tags = str(vm.conf.get("tags", "")).split(";")
        if vm.vmid in scratch and (owner or "").startswith("BackupPolicy/"):
            continue
        if vm.name not in declared:
            problems.append(f"VM {vm.vmid} {vm.name!r} (owner {owner}) has no manifest: orphaned")
        elif owner != f"VM/{vm.name}" or OWNER_TAG not in tags:
            problems.append(f"VM {vm.vmid} {vm.name!r}: marker {owner!r}, tags {tags}")
    return problems


async def clone_tasks(estate: SimulatedEstate) -> list[dict[str, Any]]:
    """Every finished ``qmclone`` task of the cluster, through the Proxmox API."""
    assert estate.pve is not None
    pve = estate.pve
    context = ssl.create_default_context(cafile=str(pve.ca_path))
    tasks: list[dict[str, Any]] = []
    async with httpx.AsyncClient(
        base_url=pve.url,
        headers={"Authorization": pve.token.header},
        verify=context,
        trust_env=False,
        timeout=10.0,
    ) as client:
        for node in pve.world.nodes:
            response = await client.get(
                f"/nodes/{node}/tasks", params={"typefilter": "qmclone", "limit": 10000}
            )
            response.raise_for_status()
            tasks += response.json()["data"]
    return tasks


def clone_problems(tasks: Iterable[dict[str, Any]], declared_ever: set[str]) -> list[str]:
    """One successful clone per VM homeport ever created (a second would be a second VM)."""
    ok = [t for t in tasks if t.get("status") == "OK"]
    if len(ok) != len(declared_ever):
        return [f"{len(ok)} successful qmclone tasks for {len(declared_ever)} VMs ever declared"]
    return []


async def route_problems(estate: SimulatedEstate, declared: set[str]) -> list[str]:
    """One Caddy route per ProxyRoute (by ``@id`` and by host); none without a manifest."""
    assert estate.caddy is not None
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:
        response = await client.get(f"{estate.caddy.admin_url}/config/apps/http/servers")
    response.raise_for_status()
    servers = response.json() or {}
    owned: list[dict[str, Any]] = [
        route
        for server in servers.values()
        for route in server.get("routes", [])
        if str(route.get("@id", "")).startswith(ROUTE_PREFIX)
    ]
    ids = Counter(str(r["@id"]).removeprefix(ROUTE_PREFIX) for r in owned)
    hosts = Counter(h for r in owned for m in r.get("match", []) for h in m.get("host", []))
    problems = [f"route {name!r} appears {n} times" for name, n in ids.items() if n > 1]
    problems += [f"host {host!r} is routed {n} times" for host, n in hosts.items() if n > 1]
    problems += [f"route {name!r} has no manifest" for name in sorted(set(ids) - declared)]
    problems += [f"ProxyRoute {name!r} has no route" for name in sorted(declared - set(ids))]
    return problems


def tailnet_problems(estate: SimulatedEstate, declared: set[str], removed: set[str]) -> list[str]:
    """At most one tailnet device per VM hostname; none left for a VM that was removed."""
    assert estate.tailnet is not None
    names = Counter(d.hostname for d in estate.tailnet.devices.values())
    problems = [
        f"{n} tailnet devices named {name!r}"
        for name, n in sorted(names.items())
        if n > 1 and name in declared
    ]
    problems += [
        f"tailnet device {name!r} outlived its VM" for name in sorted(removed & set(names))
    ]
    return problems


def backup_job_problems(estate: SimulatedEstate, policies: set[str]) -> list[str]:
    """Exactly one Proxmox backup job per BackupPolicy (marked with its owner), none other."""
    assert estate.pve is not None
    owners = Counter(
        _owner(str(job.props.get("comment", "")))
        for job in estate.pve.world.backup_jobs.jobs.values()
    )
    problems = [
        f"{owners[f'BackupPolicy/{name}']} backup jobs for BackupPolicy/{name} (want 1)"
        for name in sorted(policies)
        if owners[f"BackupPolicy/{name}"] != 1
    ]
    problems += [
        f"backup job of {owner} has no manifest"
        for owner in sorted(
            o for o in owners if o and o.removeprefix("BackupPolicy/") not in policies
        )
    ]
    return problems


def guest_problems(estate: SimulatedEstate, declared: set[str]) -> list[str]:
    """No half-fetched release (``*.partial``) and no auth key left on a declared VM."""
    assert estate.pve is not None and estate.guests is not None
    problems: list[str] = []
    for vm in estate.pve.world.vms.values():
        if vm.is_template or vm.name not in declared:
            continue
        disk = estate.guests.guest(vm.vmid).disk
        apps = disk.host("/srv/apps")
        if apps.is_dir():
            problems += [
                f"VM {vm.name}: leftover {disk.guest(p)}"
                for p in sorted(apps.glob("*/releases/*.partial"))
            ]
        if disk.host(AUTH_KEY_FILE).exists():
            problems.append(f"VM {vm.name}: tailnet auth key left in {AUTH_KEY_FILE}")
    return problems


def allocation_problems(store_path: Path, declared: set[str]) -> list[str]:
    """A vmid stays reserved only for a declared VM (a pruned VM releases its own)."""
    store = Store.open(store_path, readonly=True)
    try:
        rows = store.db.execute(
            "SELECT name, value FROM allocations WHERE pool = 'vmid' AND kind = 'VM'"
        ).fetchall()
    finally:
        store.close()
    return [
        f"vmid {vmid} still reserved for VM/{name}" for name, vmid in rows if name not in declared
    ]


def journal_problems(store_path: Path) -> list[str]:
    """Every entry finished (done, failed or interrupted); one successful clone per VM;
    fencing tokens never go backwards (no deposed leader acted after its successor)."""
    store = Store.open(store_path, readonly=True)
    try:
        entries = store.journal.entries()
    finally:
        store.close()
    problems = [
        f"journal #{e.id} {e.kind}/{e.name} {e.verb} left at {e.state!r}"
        for e in entries
        if e.state not in JOURNAL_END_STATES
    ]
    clones = Counter((e.kind, e.name) for e in entries if e.verb == "clone" and e.state == "done")
    problems += [f"{n} successful clones of {k}/{name}" for (k, name), n in clones.items() if n > 1]
    tokens = [e.fencing_token for e in entries]
    problems += [
        f"journal #{entries[i].id}: fencing token {tokens[i]} after {tokens[i - 1]}"
        for i in range(1, len(tokens))
        if tokens[i] < tokens[i - 1]
    ]
    return problems
