from __future__ import annotations

import asyncssh

from .conftest import BootFn, run


async def test_exec_over_ssh(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        result = await run(conn, "hostname")
        assert result.exit_status == 0
        assert result.stdout == "web-1\n"
        result = await run(conn, "nosuch", "x")
        assert result.exit_status == 127
        assert result.stderr == "sh: 1: nosuch: not found\n"
