"""cloud-init's first boot of a guest, from Proxmox's cloud-init drive (``GuestBoot``).

Runs once per instance (``GuestBoot.first_boot``), before sshd starts (``guest.py``):
hostname, the default user (``ciuser``, ``ubuntu`` when unset) with passwordless sudo and
the ``adm`` group like Ubuntu's cloud images, ``sshkeys`` as that user's and root's
``authorized_keys``, fresh SSH host keys (``ssh_deletekeys``), a machine-id, the network
config from ``ipconfig0``. Host keys derive from the simulator's seed, so a replay is
byte-identical.
"""

from __future__ import annotations

import random

import asyncssh
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .journal import Journal
from .rootfs import GuestDisk
from .seam import GuestBoot

HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"
DEFAULT_USER = "ubuntu"
FIRST_UID = 1000


def generate_host_key(disk: GuestDisk, rng: random.Random) -> None:
    """``ssh-keygen -A`` for ed25519, from seeded randomness."""
    private = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    key = asyncssh.import_private_key(pem)
    public = key.export_public_key().decode().strip() + " root@localhost\n"
    disk.write_file(HOST_KEY, pem, mode=0o600)
    disk.write_file(HOST_KEY + ".pub", public.encode(), mode=0o644)


def load_host_key(disk: GuestDisk) -> asyncssh.SSHKey:
    return asyncssh.import_private_key(disk.host(HOST_KEY).read_bytes())


def _add_user(disk: GuestDisk, name: str) -> tuple[int, int]:
    accounts = disk.accounts()
    existing = accounts.user(name)
    if existing is not None:
        return existing.uid, existing.gid
    used = {a.uid for a in accounts.users.values()} | set(accounts.groups.values())
    uid = next(n for n in range(FIRST_UID, 60000) if n not in used)
    passwd = disk.read_text("/etc/passwd") + f"{name}:x:{uid}:{uid}:{name}:/home/{name}:/bin/bash\n"
    group_lines = []
    for line in disk.read_text("/etc/group").splitlines():
        parts = line.split(":")
        if parts[0] in ("adm", "sudo", "users"):
            members = [m for m in parts[3].split(",") if m] if len(parts) > 3 else []
            line = ":".join([*parts[:3], ",".join([*members, name])])
        group_lines.append(line)
    group_lines.append(f"{name}:x:{uid}:")
    disk.write_file("/etc/passwd", passwd.encode())
    disk.write_file("/etc/group", ("\n".join(group_lines) + "\n").encode())
    return uid, uid


def _install_keys(disk: GuestDisk, home: str, owner: tuple[int, int], keys: str) -> None:
    disk.make_dir(home, mode=0o750 if home != "/root" else 0o700, owner=owner)
    disk.make_dir(f"{home}/.ssh", mode=0o700, owner=owner)
    text = keys if keys.endswith("\n") or not keys else keys + "\n"
    disk.write_file(f"{home}/.ssh/authorized_keys", text.encode(), mode=0o600, owner=owner)


def run_cloud_init(disk: GuestDisk, boot: GuestBoot, rng: random.Random, journal: Journal) -> None:
    user = boot.ciuser or DEFAULT_USER
    disk.write_file("/etc/hostname", f"{boot.name}\n".encode())
    hosts = f"127.0.0.1 localhost\n127.0.1.1 {boot.name}\n"
    disk.write_file("/etc/hosts", hosts.encode())
    if user != "root":
        owner = _add_user(disk, user)
        _install_keys(disk, f"/home/{user}", owner, boot.sshkeys)
        grant = f"# Created by cloud-init\n{user} ALL=(ALL) NOPASSWD:ALL\n"
        disk.write_file("/etc/sudoers.d/90-cloud-init-users", grant.encode(), mode=0o440)
    _install_keys(disk, "/root", (0, 0), boot.sshkeys)
    generate_host_key(disk, rng)
    disk.write_file("/etc/machine-id", f"{rng.getrandbits(128):032x}\n".encode(), mode=0o444)
    if boot.ipconfig0:
        netplan = f"# ipconfig0={boot.ipconfig0}\nnetwork:\n  version: 2\n"
        disk.write_file("/etc/netplan/50-cloud-init.yaml", netplan.encode(), mode=0o600)
    disk.write_file("/var/lib/cloud/instance/boot-finished", f"{boot.vmid}\n".encode())
    journal.log(
        "cloud-init.service",
        f"Cloud-init v. 24.4 finished; datasource DataSourceNoCloud "
        f"[seed=/dev/sr0]; hostname {boot.name}",
        identifier="cloud-init",
        pid=600,
    )
