"""Cluster and node read endpoints: shapes a controller parses."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from proxmoxer import ResourceException

from tests.simulator.proxmox.target import Target

VM_KEYS = {"id", "vmid", "type", "node", "status", "template", "maxcpu", "maxmem", "maxdisk"}


def test_nodes_index(pve: Target) -> None:
    nodes = pve.api.nodes.get()
    assert nodes
    for node in nodes:
        assert node["type"] == "node"
        assert node["id"] == f"node/{node['node']}"
        assert node["status"] in ("online", "offline", "unknown")
        if node["status"] == "online":
            assert {"cpu", "mem", "maxmem", "maxcpu", "uptime"} <= set(node)


def test_each_node_has_its_own_certificate(pve: Target) -> None:
    """Every PVE node has its own `pve-ssl.pem`, so each reports its own fingerprint."""
    fingerprints = [node["ssl_fingerprint"] for node in pve.api.nodes.get()]
    assert len(fingerprints) > 1 and len(set(fingerprints)) == len(fingerprints)
    assert all(re.fullmatch(r"[0-9A-F]{2}(:[0-9A-F]{2}){31}", f) for f in fingerprints)


def test_node_certificates_are_signed_by_the_ca_and_kept(
    make_sim: Callable[..., Target], pki_dir: Path
) -> None:
    before = {n["node"]: n["ssl_fingerprint"] for n in make_sim().api.nodes.get()}
    after = {n["node"]: n["ssl_fingerprint"] for n in make_sim().api.nodes.get()}
    assert after == before  # the same certificates on the next start
    ca = x509.load_pem_x509_certificate((pki_dir / "ca.pem").read_bytes())
    for name, fingerprint in before.items():
        cert = x509.load_pem_x509_certificate((pki_dir / "nodes" / f"{name}.pem").read_bytes())
        cert.verify_directly_issued_by(ca)
        assert cert.fingerprint(hashes.SHA256()).hex(":").upper() == fingerprint


def test_node_status(pve: Target) -> None:
    status = pve.api.nodes(pve.nodes[0]).status.get()
    assert {
        "uptime",
        "cpu",
        "memory",
        "rootfs",
        "cpuinfo",
        "pveversion",
        "loadavg",
        "kversion",
    } <= set(status)
    assert status["pveversion"].startswith("pve-manager/")
    assert {"total", "used", "free"} <= set(status["memory"])


def test_cluster_status(pve: Target) -> None:
    status = pve.api.cluster.status.get()
    nodes = [e for e in status if e["type"] == "node"]
    assert {e["name"] for e in nodes} == set(pve.nodes)
    assert all(e["online"] in (0, 1) for e in nodes)
    assert sum(e.get("local", 0) for e in nodes) == 1
    cluster = [e for e in status if e["type"] == "cluster"]
    if cluster:
        assert cluster[0]["quorate"] in (0, 1)


def test_cluster_resources_shapes(pve: Target) -> None:
    resources = pve.api.cluster.resources.get()
    kinds = {r["type"] for r in resources}
    assert {"node", "storage"} <= kinds
    assert "vm" not in kinds
    for vm in pve.api.cluster.resources.get(type="vm"):
        assert vm["type"] in ("qemu", "lxc")
        assert set(vm) >= VM_KEYS
        assert isinstance(vm["vmid"], int)
        assert vm["id"] == f"{vm['type']}/{vm['vmid']}"
        assert vm["status"] in ("running", "stopped", "unknown")
        assert vm.get("tags", "x") != "" and vm.get("lock", "x") != ""
    storages = pve.api.cluster.resources.get(type="storage")
    assert all(
        s["type"] == "storage" and s["id"] == f"storage/{s['node']}/{s['storage']}"
        for s in storages
    )


def test_templates_exist_on_every_node(sim: Target) -> None:
    templates = [r for r in sim.api.cluster.resources.get(type="vm") if r["template"] == 1]
    assert {t["node"] for t in templates} == set(sim.nodes)
    assert {t["name"] for t in templates} == {"ubuntu-2404-base"}
    assert any(t["vmid"] == 9000 for t in templates)
    config = sim.api.nodes("pve1").qemu(9000).config.get()
    assert config["template"] == 1
    assert config["memory"] == "2048"
    assert config["agent"] == "1"
    assert config["scsi0"].endswith("size=32G")


def test_resources_show_tags_and_locks_only_when_set(sim: Target) -> None:
    sim.clone("pve2", 9001, 120, name="tagged")
    sim.api.nodes("pve2").qemu(120).config.put(tags="Web;prod,web")
    entry = next(r for r in sim.api.cluster.resources.get(type="vm") if r["vmid"] == 120)
    assert entry["tags"] == "prod;web"
    assert "lock" not in entry
    plain = next(r for r in sim.api.cluster.resources.get(type="vm") if r["vmid"] == 9001)
    assert "tags" not in plain


def test_nextid_reserves_nothing(pve: Target) -> None:
    first = pve.api.cluster.nextid.get()
    assert int(first) >= 100
    assert pve.api.cluster.nextid.get() == first
    taken = next(r["vmid"] for r in pve.api.cluster.resources.get(type="vm"))
    with pytest.raises(ResourceException) as err:
        pve.api.cluster.nextid.get(vmid=taken)
    assert err.value.status_code == 400
    assert err.value.errors == {"vmid": f"VM {taken} already exists"}


def test_nextid_skips_used_ids(sim: Target) -> None:
    sim.clone("pve2", 9001, 100)
    assert sim.api.cluster.nextid.get() == "101"
    assert sim.api.cluster.nextid.get(vmid=555) == "555"


def test_unknown_node(pve: Target) -> None:
    with pytest.raises(ResourceException) as err:
        pve.api.nodes("nosuchnode").status.get()
    assert err.value.status_code == 500
    assert "nosuchnode" in err.value.content


def test_storage_list(pve: Target) -> None:
    storages = pve.api.nodes(pve.nodes[0]).storage.get()
    for storage in storages:
        assert {
            "storage",
            "type",
            "content",
            "total",
            "used",
            "avail",
            "active",
            "enabled",
            "shared",
        } <= set(storage)
    images = pve.api.nodes(pve.nodes[0]).storage.get(content="images")
    assert all("images" in s["content"].split(",") for s in images)


def test_local_zfs_is_listed_like_the_other_storages(sim: Target) -> None:
    config = sim.api.storage("local-zfs").get()
    assert {k: v for k, v in config.items() if k != "digest"} == {
        "storage": "local-zfs",
        "type": "zfspool",
        "content": "images,rootdir",
        "pool": "rpool/data",
        "sparse": 1,
    }
    assert [s["storage"] for s in sim.api.storage.get(type="zfspool")] == ["local-zfs"]
    for node in sim.nodes:
        listed = {s["storage"]: s for s in sim.api.nodes(node).storage.get()}
        zfs, lvm = listed["local-zfs"], listed["local-lvm"]
        assert set(zfs) == set(lvm)
        assert (zfs["type"], zfs["content"], zfs["shared"]) == ("zfspool", "images,rootdir", 0)
        assert zfs["total"] == lvm["total"] and zfs["used"] == 0
    resources = {r["id"]: r for r in sim.api.cluster.resources.get(type="storage")}
    for node in sim.nodes:
        zfs, lvm = resources[f"storage/{node}/local-zfs"], resources[f"storage/{node}/local-lvm"]
        assert set(zfs) == set(lvm)
        assert (zfs["plugintype"], zfs["shared"], zfs["node"]) == ("zfspool", 0, node)
