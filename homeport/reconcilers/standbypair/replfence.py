"""Acting on a StandbyPair's replication channel (``replkeys.py`` has its text and paths):
set it up for the current direction and epoch, fence it before a promotion, remove it
with the pair. Called by the reconciler's ``act`` (``__init__.py``); journaled actions.

Fencing fails closed: a standby that cannot be fenced is not promoted (the action raises,
the failover stays in its phase and is retried).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncssh

from homeport.clients.secret import Secret
from homeport.clients.ssh import SSHPool
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.slots import PAIR_MEMORY
from homeport.reconcilers.standbypair import selffence_act
from homeport.reconcilers.standbypair.actions import SetUpReplication
from homeport.reconcilers.standbypair.observe import member
from homeport.reconcilers.standbypair.replkeys import (
    REPLICA_SCRIPT,
    REPLICA_TOOL,
    STATE_DIR,
    RemoveReplication,
    authorized_line,
    fence_command,
    key_path,
    known_hosts_path,
    merged_authorized_keys,
)
from homeport.reconcilers.standbypair.state import PairState
from homeport.reconcilers.standbypair.storagerepl import StorageView

AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"


async def install_tool(ssh: SSHPool, host: str) -> None:
    await ssh.run(host, ["install", "-d", "-m", "0755", "/usr/local/sbin"])
    await ssh.run(host, ["install", "-d", "-m", "0700", "/root/.ssh"])
    await ssh.install_file(
        host, REPLICA_TOOL, REPLICA_SCRIPT.encode(), mode=0o755, owner="root", group="root"
    )


async def fence(ssh: SSHPool, host: str, pair: str, epoch: int) -> None:
    await install_tool(ssh, host)  # a member set up by an older homeport has none yet
    result = await ssh.run(host, fence_command(pair, epoch), timeout=15, check=False)
    if not result.ok:
        error = result.stderr.decode(errors="replace").strip()[-300:]
        raise TemporaryError(f"fencing replication on {host} failed: {error}", delay=0.5)


async def set_up(ssh: SSHPool, action: SetUpReplication) -> None:
    """Fence both members at the current epoch (old keys and runs gone), then authorize a
    fresh key for primary → standby only, restricted to the receive wrapper."""
    (source_app, source), (target_app, target) = action.hosts
    for host in (source, target):
        await fence(ssh, host, action.pair, action.epoch)
    key = asyncssh.generate_private_key("ssh-ed25519")
    await ssh.install_file(
        source,
        key_path(action.pair),
        Secret(key.export_private_key().decode()),
        mode=0o600,
        owner="root",
        group="root",
    )
    pinned = [f"[{target}]:{action.port} {k}" for k in ssh.known_hosts.pinned(target, action.port)]
    await ssh.install_file(
        source,
        known_hosts_path(action.pair),
        ("\n".join(pinned) + "\n").encode(),
        mode=0o644,
        owner="root",
        group="root",
    )
    line = authorized_line(
        action.pair,
        key.export_public_key().decode(),
        source=source_app,
        target=target_app,
        data_dir=action.data_dir,
    )
    current = (await ssh.read_file(target, AUTHORIZED_KEYS) or b"").decode()
    authorized = merged_authorized_keys(current, action.pair, [line])
    await ssh.install_file(
        target, AUTHORIZED_KEYS, authorized.encode(), mode=0o600, owner="root", group="root"
    )


async def remove(ssh: SSHPool, action: RemoveReplication) -> None:
    for host, unit in action.guards:
        await selffence_act.remove(ssh, host, unit)
    for host in action.hosts:
        await fence(ssh, host, action.pair, 0)  # drops the keys and kills the runs
        await ssh.run(
            host,
            ["rm", "-rf", "--", f"{STATE_DIR}/{action.pair}", key_path(action.pair),
             known_hosts_path(action.pair)],
            timeout=15,
        )  # fmt: skip


@dataclass(frozen=True)
class RemovedPair:
    """What a pair removed from git leaves on the world: its storage job, its channel."""

    storage: StorageView
    channel: RemoveReplication


def removed_channel(pair: str, ctx: ReconcileContext) -> RemoveReplication | None:
    """The members (as their Apps are now) that still hold the removed pair's keys or guards."""
    memory = PairState.load(PAIR_MEMORY.recall(ctx, pair), primary="", standby="")
    guarded = set(memory.self_fence_on)
    if not (memory.replication_keys or guarded):
        return None
    members = [member(app, ctx) for app in (memory.primary, memory.standby) if app]
    hosts = tuple(m.host for m in members if m.host)
    guards = tuple((m.host, m.unit) for m in members if m.host and m.app in guarded)
    return RemoveReplication(pair, hosts, guards) if hosts else None
