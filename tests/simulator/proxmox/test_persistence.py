"""State survives a restart of the simulator with the same state directory."""

from __future__ import annotations

import json
from pathlib import Path

from homeport.simulator.threaded import SimulatorThread
from tests.simulator.proxmox.conftest import make_config
from tests.simulator.proxmox.target import Target, sim_target


def _run(config_dir: Path, pki_dir: Path, seed: int) -> tuple[SimulatorThread, Target]:
    thread = SimulatorThread(
        make_config(config_dir, pki_dir, seed=seed, state_dir=config_dir / "state")
    )
    thread.start()
    return thread, sim_target(thread)


def test_state_survives_a_restart(tmp_path: Path, pki_dir: Path) -> None:
    thread, first = _run(tmp_path, pki_dir, seed=1)
    try:
        first.clone("pve2", 9001, 950, name="keeper", full=1, storage="local-zfs")
        first.start("pve2", 950)
        first.api.nodes("pve2").qemu(950).config.put(cores=4)
        first.api.cluster.backup.post(id="nightly", schedule="21:00", vmid="950")
        first.api.cluster.replication.post(id="950-0", type="local", target="pve3")
        first.ok("pve2", first.api.nodes("pve2").vzdump.post(vmid="950"))
        address = first.wait_agent("pve2", 950)["result"][1]["ip-addresses"][0]["ip-address"]
        tasks = {t["upid"] for t in first.api.nodes("pve2").tasks.get()}
        kwargs = dict(first.kwargs)
    finally:
        first.close()
        thread.stop()
    thread, second = _run(tmp_path, pki_dir, seed=2)
    try:
        assert second.kwargs["token_value"] == kwargs["token_value"]
        config = second.api.nodes("pve2").qemu(950).config.get()
        assert config["name"] == "keeper" and config["cores"] == 4
        assert second.api.nodes("pve2").qemu(950).status.current.get()["status"] == "running"
        assert (
            second.wait_agent("pve2", 950)["result"][1]["ip-addresses"][0]["ip-address"] == address
        )
        assert [j["id"] for j in second.api.cluster.backup.get()] == ["nightly"]
        assert [j["id"] for j in second.api.cluster.replication.get()] == ["950-0"]
        assert len(second.api.nodes("pve2").storage("local").content.get(content="backup")) == 1
        assert tasks <= {t["upid"] for t in second.api.nodes("pve2").tasks.get()}
        assert second.check() == []
    finally:
        second.close()
        thread.stop()


def test_a_state_from_before_local_zfs_gets_it(tmp_path: Path, pki_dir: Path) -> None:
    thread, first = _run(tmp_path, pki_dir, seed=1)
    first.close()
    thread.stop()
    path = tmp_path / "state" / "pve-state.json"
    data = json.loads(path.read_text())
    data["storages"] = [
        {k: v for k, v in s.items() if k != "pool"}
        for s in data["storages"]
        if s["id"] != "local-zfs"
    ]
    path.write_text(json.dumps(data))
    thread, second = _run(tmp_path, pki_dir, seed=1)
    try:
        listed = {s["storage"]: s for s in second.api.nodes("pve2").storage.get()}
        assert listed["local-zfs"]["type"] == "zfspool"
        assert listed["local-zfs"]["total"] == listed["local-lvm"]["total"]
        assert second.api.storage("local-zfs").get()["pool"] == "rpool/data"
        second.clone("pve2", 9001, 951, full=1, storage="local-zfs")
        assert second.check() == []
    finally:
        second.close()
        thread.stop()
