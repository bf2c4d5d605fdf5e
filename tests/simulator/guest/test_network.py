"""What a guest shows of its network: ss, sshd -T, and rsync to another guest."""

from __future__ import annotations

import asyncssh

from homeport.simulator.guest import LoopbackGuestRuntime

from .conftest import BootFn, atomic_install, deploy_app, run


async def test_ss_and_sshd_t(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080)
        listening = (await run(conn, "ss", "-ltnH")).stdout.splitlines()
        rows = [line.split() for line in listening]
        assert ["LISTEN", "0", "128", f"{guest.address}:8080", "0.0.0.0:*"] in rows
        assert ["LISTEN", "0", "128", "0.0.0.0:2222", "0.0.0.0:*"] in rows
        config = (await run(conn, "sshd", "-T")).stdout.splitlines()
        assert "passwordauthentication no" in config
        assert "kbdinteractiveauthentication no" in config
        assert "pubkeyauthentication yes" in config
        assert "permitrootlogin without-password" in config


async def test_rsync_replicates_to_a_trusting_running_guest(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    primary = await boot(201, name="db-1")
    standby = await boot(202, name="db-2")
    replication = asyncssh.generate_private_key("ssh-ed25519")
    public = replication.export_public_key().decode()
    async with await standby.connect(client_key) as conn:
        keys = client_key.export_public_key().decode() + public
        await atomic_install(conn, "/root/.ssh/authorized_keys", keys.encode())
        assert (await run(conn, "mkdir", "-p", "/srv/apps/db/data/stale")).exit_status == 0
    target = f"root@{standby.address}:/srv/apps/db/data/"
    command = [
        "rsync", "-a", "--delete", "-e", "ssh -o StrictHostKeyChecking=accept-new",
        "/srv/apps/db/data/", target,
    ]  # fmt: skip
    async with await primary.connect(client_key) as conn:
        await atomic_install(conn, "/root/.ssh/id_ed25519", replication.export_private_key())
        assert (await run(conn, "mkdir", "-p", "/srv/apps/db/data")).exit_status == 0
        await atomic_install(conn, "/srv/apps/db/data/order-1", b"paid")
        synced = await run(conn, *command)
        assert synced.exit_status == 0, synced.stderr
        known = await run(conn, "cat", "/root/.ssh/known_hosts")
        assert known.stdout.split()[0] == f"[{standby.address}]:2222"
        async with await standby.connect(client_key) as other:
            listing = await run(other, "ls", "-1", "/srv/apps/db/data")
            assert listing.stdout == "order-1\n"  # --delete removed the stale entry

        await runtime.halt(standby.vmid)
        refused = await run(conn, *command)
        assert refused.exit_status == 255
        assert refused.stderr.startswith(
            f"ssh: connect to host {standby.address} port 2222: Connection refused"
        )


async def test_rsync_result_and_untrusted_key(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    primary = await boot(211, name="db-1")
    standby = await boot(212, name="db-2")
    replication = asyncssh.generate_private_key("ssh-ed25519")
    target = f"root@{standby.address}:/srv/apps/db/data/"
    command = ["rsync", "-a", "-e", "ssh -o StrictHostKeyChecking=no", "/srv/apps/db/data/", target]
    async with await primary.connect(client_key) as conn:
        await atomic_install(conn, "/root/.ssh/id_ed25519", replication.export_private_key())
        assert (await run(conn, "mkdir", "-p", "/srv/apps/db/data")).exit_status == 0
        await atomic_install(conn, "/srv/apps/db/data/order-1", b"paid")
        denied = await run(conn, *command)
        assert denied.exit_status == 255
        assert f"root@{standby.address}: Permission denied (publickey)." in denied.stderr
    async with await standby.connect(client_key) as conn:
        keys = client_key.export_public_key().decode()
        keys += replication.export_public_key().decode()
        await atomic_install(conn, "/root/.ssh/authorized_keys", keys.encode())
    async with await primary.connect(client_key) as conn:
        assert (await run(conn, *command)).exit_status == 0
    async with await standby.connect(client_key) as conn:
        assert (await run(conn, "cat", "/srv/apps/db/data/order-1")).stdout == "paid"
