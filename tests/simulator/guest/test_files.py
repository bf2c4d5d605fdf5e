"""coreutils-style commands over SSH exec, in the real tools' formats."""

from __future__ import annotations

import hashlib

import asyncssh

from .conftest import BootFn, atomic_install, run


async def test_file_commands(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        assert (await run(conn, "true")).exit_status == 0
        assert (await run(conn, "id", "-un")).stdout == "root\n"
        assert (await run(conn, "mkdir", "-p", "/srv/apps/web/releases/a")).exit_status == 0
        nested = await run(conn, "mkdir", "/srv/x/y")
        assert nested.exit_status == 1
        assert nested.stderr == (
            "mkdir: cannot create directory \u2018/srv/x/y\u2019: No such file or directory\n"
        )
        await atomic_install(conn, "/srv/apps/web/releases/a/app.txt", b"hello\n", 0o640)
        digest = hashlib.sha256(b"hello\n").hexdigest()
        summed = await run(conn, "sha256sum", "/srv/apps/web/releases/a/app.txt", "/nope")
        assert summed.exit_status == 1
        assert summed.stdout == f"{digest}  /srv/apps/web/releases/a/app.txt\n"
        assert summed.stderr == "sha256sum: /nope: No such file or directory\n"
        stat = await run(conn, "stat", "-c", "%a %U %G %s %F", "/srv/apps/web/releases/a/app.txt")
        assert stat.stdout == "640 root root 6 regular file\n"
        mtime = await run(conn, "stat", "-c", "%Y", "/srv/apps/web/releases/a/app.txt")
        assert mtime.stdout.strip().isdigit()
        missing = await run(conn, "stat", "-c", "%a", "/nope")
        assert (missing.exit_status, missing.stderr) == (
            1,
            "stat: cannot statx '/nope': No such file or directory\n",
        )
        ln = await run(conn, "ln", "-sfn", "/srv/apps/web/releases/a", "/srv/apps/web/current")
        assert ln.exit_status == 0
        assert (await run(conn, "readlink", "/srv/apps/web/current")).stdout == (
            "/srv/apps/web/releases/a\n"
        )
        resolved = await run(conn, "readlink", "-f", "/srv/apps/web/current/app.txt")
        assert resolved.stdout == "/srv/apps/web/releases/a/app.txt\n"
        assert (await run(conn, "test", "-L", "/srv/apps/web/current")).exit_status == 0
        assert (await run(conn, "test", "-d", "/srv/apps/web/current")).exit_status == 0
        assert (await run(conn, "test", "-f", "/srv/apps/web/current")).exit_status == 1
        assert (await run(conn, "test", "-e", "/srv/apps/web/nope")).exit_status == 1
        link_type = await run(conn, "stat", "-c", "%F", "/srv/apps/web/current")
        assert link_type.stdout == "symbolic link\n"
        assert (await run(conn, "cat", "/srv/apps/web/current/app.txt")).stdout == "hello\n"
        assert (await run(conn, "ls", "-1", "/srv/apps/web")).stdout == "current\nreleases\n"
        moved = await run(
            conn, "mv", "-f", "/srv/apps/web/releases/a/app.txt", "/srv/apps/web/app.txt"
        )
        assert moved.exit_status == 0
        assert (await run(conn, "test", "-f", "/srv/apps/web/app.txt")).exit_status == 0
        assert (await run(conn, "chmod", "600", "/srv/apps/web/app.txt")).exit_status == 0
        assert (await run(conn, "chown", "ops:ops", "/srv/apps/web/app.txt")).exit_status == 0
        owned = await run(conn, "stat", "-c", "%a %U:%G", "/srv/apps/web/app.txt")
        assert owned.stdout == "600 ops:ops\n"
        bad_user = await run(conn, "chown", "nobody-here", "/srv/apps/web/app.txt")
        assert bad_user.exit_status == 1
        assert bad_user.stderr == "chown: invalid user: \u2018nobody-here\u2019\n"
        installed = await run(
            conn, "install", "-d", "-m", "0750", "-o", "ops", "-g", "ops", "/srv/apps/web/data"
        )
        assert installed.exit_status == 0
        data = await run(conn, "stat", "-c", "%a %U %G %F", "/srv/apps/web/data")
        assert data.stdout == "750 ops ops directory\n"
        assert (await run(conn, "rm", "-rf", "/srv/apps/web", "/srv/never")).exit_status == 0
        assert (await run(conn, "test", "-e", "/srv/apps/web")).exit_status == 1
        gone = await run(conn, "rm", "/srv/never")
        assert gone.stderr == "rm: cannot remove '/srv/never': No such file or directory\n"
        assert (await run(conn, "cat", "/etc/os-release")).stdout.startswith(
            'PRETTY_NAME="Ubuntu 24.04'
        )


async def test_exec_line_rules(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        unknown = await run(conn, "frobnicate", "--now")
        assert (unknown.exit_status, unknown.stderr) == (127, "sh: 1: frobnicate: not found\n")
        piped = await conn.run("cat /etc/hostname | wc -l", check=False, stdin=asyncssh.DEVNULL)
        assert piped.exit_status == 2
        quoted = await run(conn, "test", "-e", "/a b|c")
        assert quoted.exit_status == 1  # metacharacters inside quotes are plain text
        full_path = await run(conn, "/usr/bin/hostname")
        assert full_path.stdout == "web-1\n"


async def test_cloud_init_user_needs_sudo(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot(ciuser="ops")
    async with await guest.connect(client_key, username="ops") as conn:
        assert (await run(conn, "id", "-un")).stdout == "ops\n"
        denied = await run(conn, "mkdir", "/srv/apps/web")
        assert denied.exit_status == 1
        assert denied.stderr.endswith(": Permission denied\n")
        secret = await run(conn, "cat", "/root/.ssh/authorized_keys")
        assert secret.exit_status == 1
        assert (await run(conn, "sudo", "-n", "mkdir", "/srv/apps/web")).exit_status == 0
        systemctl = await run(conn, "systemctl", "--no-ask-password", "start", "web")
        assert systemctl.exit_status == 1
        assert "Interactive authentication required." in systemctl.stderr
        async with conn.start_sftp_client() as sftp:
            await sftp.mkdir("notes")  # relative to the home directory, like sftp-server
            assert await sftp.isdir("/home/ops/notes")
            attrs = await sftp.stat("/home/ops/notes")
            assert (attrs.uid, attrs.gid) == (1000, 1000)


async def test_sftp_atomic_install_leaves_0600_file(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        assert (await run(conn, "install", "-d", "-m", "0700", "/etc/homeport")).exit_status == 0
        await atomic_install(conn, "/etc/homeport/web.env", b"PORT=8080\nSECRET=x\n")
        stat = await run(conn, "stat", "-c", "%a %U %G %s", "/etc/homeport/web.env")
        assert stat.stdout == "600 root root 19\n"
        listing = await run(conn, "ls", "-1", "-A", "/etc/homeport")
        assert listing.stdout == "web.env\n"  # no temp file left behind


async def test_sftp_cannot_escape_rootfs(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        async with conn.start_sftp_client() as sftp:
            await sftp.symlink("/etc", "/srv/etc-link")
            assert await sftp.readlink("/srv/etc-link") == "/etc"
            names = await sftp.listdir("/srv/etc-link/ssh")  # resolves inside the guest
            assert "sshd_config" in names
            assert await sftp.realpath("/../../..") == "/"
            assert "os-release" in await sftp.listdir("/../../etc")
