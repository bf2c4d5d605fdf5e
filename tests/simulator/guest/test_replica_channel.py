"""A StandbyPair's replication channel on the guests: ``authorized_keys`` options honoured
as OpenSSH does (``restrict``, ``command=`` with ``SSH_ORIGINAL_COMMAND``), and homeport's
receive wrapper (``homeport-replica``), which writes only into the data directory, only
under the pair's current epoch, and is fenced by ``homeport-replica fence``."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from homeport.reconcilers.standbypair.replkeys import (
    REPLICA_SCRIPT,
    REPLICA_TOOL,
    authorized_line,
    fence_command,
)
from homeport.simulator.guest import LoopbackGuestRuntime
from homeport.simulator.guest.commands import replica

from .conftest import BootedGuest, BootFn, atomic_install, run

DATA = "/srv/apps/db/data"


async def _channel(
    boot: BootFn, client_key: asyncssh.SSHKey, base: int, *, epoch: int = 3
) -> tuple[BootedGuest, BootedGuest, asyncssh.SSHKey]:
    """Two guests; the standby authorizes the primary's pair key for the wrapper only."""
    primary = await boot(base, name="db-1")
    standby = await boot(base + 1, name="db-2")
    key = asyncssh.generate_private_key("ssh-ed25519")
    line = authorized_line(
        "shop", key.export_public_key().decode(), source="a", target="b", data_dir=DATA
    )
    async with await standby.connect(client_key) as conn:
        await run(conn, "mkdir", "-p", "/usr/local/sbin", DATA + "/stale")
        await atomic_install(conn, REPLICA_TOOL, REPLICA_SCRIPT.encode())
        assert (await run(conn, *fence_command("shop", epoch))).exit_status == 0
        keys = client_key.export_public_key().decode() + line + "\n"
        await atomic_install(conn, "/root/.ssh/authorized_keys", keys.encode())
    async with await primary.connect(client_key) as conn:
        await atomic_install(conn, "/root/.ssh/homeport-replica-shop", key.export_private_key())
        await run(conn, "mkdir", "-p", DATA)
        await atomic_install(conn, DATA + "/order-1", b"paid")
    return primary, standby, key


def _rsync(standby: BootedGuest, epoch: int) -> list[str]:
    ssh = "ssh -i /root/.ssh/homeport-replica-shop -o StrictHostKeyChecking=no"
    return [
        "rsync",
        "-a",
        "--delete",
        "-e",
        ssh,
        DATA + "/",
        f"root@{standby.address}:epoch-{epoch}/",
    ]


async def _ls(standby: BootedGuest, client_key: asyncssh.SSHKey) -> str:
    async with await standby.connect(client_key) as conn:
        return str((await run(conn, "ls", "-1", DATA)).stdout)


async def test_a_run_of_the_current_epoch_lands_in_the_data_directory(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    primary, standby, _ = await _channel(boot, client_key, 301)
    async with await primary.connect(client_key) as conn:
        synced = await run(conn, *_rsync(standby, 3))
        assert synced.exit_status == 0, synced.stderr
    assert await _ls(standby, client_key) == "order-1\n"  # and --delete removed "stale"


async def test_a_run_of_an_older_epoch_is_refused(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    primary, standby, _ = await _channel(boot, client_key, 303, epoch=4)
    async with await primary.connect(client_key) as conn:
        refused = await run(conn, *_rsync(standby, 3))
    assert refused.exit_status != 0
    assert "stale epoch 3: the pair is at epoch 4" in refused.stderr
    assert await _ls(standby, client_key) == "stale\n"


async def test_the_key_runs_only_the_wrapper(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    """``command=`` replaces whatever the client asks for, SFTP included: the key cannot
    read a file, open a shell or write outside the data directory."""
    _, standby, key = await _channel(boot, client_key, 305)
    async with asyncssh.connect(
        standby.address,
        2222,
        username="root",
        client_keys=[key],
        known_hosts=None,
        agent_path=None,
        config=None,
    ) as conn:
        stolen = await conn.run("cat /etc/shadow", check=False)
        assert stolen.exit_status == 1 and stolen.stdout == ""
        assert "only an rsync push is allowed" in str(stolen.stderr)
        elsewhere = await conn.run("rsync --server -logDtpre.iLsfxCIvu . /root/.ssh/", check=False)
        assert "refused" in str(elsewhere.stderr)
        with pytest.raises((asyncssh.Error, OSError)):
            async with conn.start_sftp_client() as sftp:
                await sftp.listdir("/")


async def test_fence_revokes_the_key_and_a_straddling_run_never_writes(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    primary, standby, _ = await _channel(boot, client_key, 307)
    disk = runtime.guest(standby.vmid).disk
    # A run that received everything and waits for the apply lock while the fence raises
    # the epoch (as when a hung old primary resumes mid-run) must not write.
    lock = replica.lock_for(disk.dir, "shop")
    await lock.acquire()
    async with await primary.connect(client_key) as conn:
        run_task = asyncio.create_task(run(conn, *_rsync(standby, 3)))
        staged = disk.host("/var/lib/homeport/replica/shop/staging/order-1")
        while not staged.exists() and not run_task.done():  # noqa: ASYNC110 (a file, no event)
            await asyncio.sleep(0.01)
        async with await standby.connect(client_key) as other:
            fencing = asyncio.create_task(run(other, *fence_command("shop", 4)))
            await asyncio.sleep(0)
            disk.write_file("/var/lib/homeport/replica/shop/epoch", b"4\n")
            lock.release()
            straddled = await run_task
            assert (await fencing).exit_status == 0
            keys = (await run(other, "cat", "/root/.ssh/authorized_keys")).stdout
        assert "fenced during the run" in straddled.stderr
        assert "homeport-replica:shop:" not in keys
        assert client_key.export_public_key().decode().split()[1] in keys  # others kept
        revoked = await run(conn, *_rsync(standby, 4))
        assert revoked.exit_status == 255
        assert "Permission denied (publickey)" in revoked.stderr
    assert await _ls(standby, client_key) == "stale\n"


async def test_the_wrapper_must_be_installed(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot(309, name="db-3")
    async with await guest.connect(client_key) as conn:
        missing = await run(conn, *fence_command("shop", 2))
    assert missing.exit_status == 127
