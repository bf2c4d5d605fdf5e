"""``timeout``, ``runuser -u`` and ``env -C`` run their command as the real tools do: as the
other user (root only may switch), in the other directory (exit 125 when it is missing)."""

from __future__ import annotations

import asyncssh

from .conftest import BootFn, run


async def test_runuser_and_env_chdir(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot(ciuser="ops")
    async with await guest.connect(client_key) as conn:
        assert (await run(conn, "useradd", "--system", "--", "app")).exit_status == 0
        assert (
            await run(conn, "install", "-d", "-o", "app", "-g", "app", "/srv/b")
        ).exit_status == 0
        built = await run(
            conn, "timeout", "-k", "10s", "60s", "runuser", "-u", "app", "--",
            "env", "-C", "/srv/b", "--", "mkdir", "-p", "out",
        )  # fmt: skip
        assert built.exit_status == 0, built.stderr
        assert (await run(conn, "stat", "-c", "%U %n", "/srv/b/out")).stdout == "app /srv/b/out\n"
        who = await run(conn, "runuser", "-u", "app", "--", "id", "-un")
        assert who.stdout == "app\n"
        denied = await run(conn, "runuser", "-u", "app", "--", "mkdir", "/srv/not-app")
        assert denied.exit_status == 1  # app may not write /srv
        missing = await run(conn, "env", "-C", "/srv/nope", "--", "true")
        assert (missing.exit_status, missing.stderr) == (
            125,
            "env: cannot change directory to '/srv/nope': No such file or directory\n",
        )
        failing = await run(conn, "timeout", "5s", "ls", "/srv/nope")
        assert failing.exit_status == 2  # the command's own status comes through
        bad = await run(conn, "timeout", "soon", "true")
        assert bad.exit_status == 125
        nouser = await run(conn, "runuser", "-u", "nobody-here", "--", "true")
        assert nouser.exit_status == 1
    async with await guest.connect(client_key, username="ops") as conn:
        refused = await run(conn, "runuser", "-u", "app", "--", "true")
        assert (refused.exit_status, refused.stderr) == (
            1,
            "runuser: may not be used by non-root users\n",
        )
