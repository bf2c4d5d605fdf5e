"""The simulated ``useradd`` refuses what shadow's refuses (never a bad line in /etc/passwd)
and, like ``id`` and ``install``, reads everything after ``--`` as operands."""

from __future__ import annotations

import asyncssh
import pytest

from .conftest import BootFn, run

BAD_NAMES = [
    "app\nExecStartPre=/bin/touch /tmp/pwned",
    "app; touch /tmp/pwned",
    "app:0:0",
    "with space",
    "12345",
    "..",
    "a$b",
    "a" * 33,
    "-app",
]


async def test_useradd_refuses_names_shadow_refuses(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        before = (await run(conn, "cat", "/etc/passwd")).stdout
        for name in BAD_NAMES:
            result = await run(conn, "useradd", "--system", "--", name)
            assert result.exit_status == 3, name
            assert (
                result.stderr == f"useradd: invalid user name '{name}': use --badname to ignore\n"
            )
        assert (await run(conn, "cat", "/etc/passwd")).stdout == before
        bad_home = await run(conn, "useradd", "--home-dir", "/srv/x:0:0", "--", "ok")
        assert (bad_home.exit_status, bad_home.stderr) == (
            3,
            "useradd: invalid home directory '/srv/x:0:0'\n",
        )


@pytest.mark.parametrize("name", ["app", "_svc", "web-1", "Mixed.Case", "samba$", "a" * 32])
async def test_useradd_after_double_dash_and_id_install_find_the_user(
    boot: BootFn, client_key: asyncssh.SSHKey, name: str
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        created = await run(
            conn, "useradd", "--system", "--home-dir", "/srv/apps/x", "--shell",
            "/usr/sbin/nologin", "--", name,
        )  # fmt: skip
        assert (created.exit_status, created.stderr) == (0, "")
        uid = await run(conn, "id", "-u", "--", name)
        assert uid.exit_status == 0 and int(uid.stdout) < 1000
        made = await run(
            conn, "install", "-d", "-m", "0750", "-o", name, "-g", name, "--", "/srv/d"
        )
        assert made.exit_status == 0, made.stderr
        again = await run(conn, "useradd", "--system", "--", name)
        assert (again.exit_status, again.stderr) == (9, f"useradd: user '{name}' already exists\n")
