"""The simulated ``apt-get`` and ``dpkg-query`` answer like the real tools: exit 100 and
``E:`` lines for a package or version the archives lack (and nothing installed then), an
empty archive until ``apt-get update``, ``-y`` needed non-interactively, downgrades refused
under ``-y`` without ``--allow-downgrades``, root only; ``dpkg-query -W -f`` renders
dpkg's format and reports the names it does not know on stderr with exit 1."""

from __future__ import annotations

import asyncssh

from homeport.reconcilers.packages import dpkg_query_argv

from .conftest import BootFn, run

APT = ("DEBIAN_FRONTEND=noninteractive", "apt-get")
INSTALL = (*APT, "install", "-y", "-q", "--no-install-recommends")


async def _query(conn: asyncssh.SSHClientConnection, *names: str) -> asyncssh.SSHCompletedProcess:
    return await run(conn, *dpkg_query_argv(names))


async def test_apt_get_install_and_dpkg_query(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        unknown = await _query(conn, "curl")
        assert (unknown.exit_status, unknown.stdout, unknown.stderr) == (
            1,
            "",
            "dpkg-query: no packages found matching curl\n",
        )
        # A fresh image has no package lists: nothing can be located before an update.
        no_lists = await run(conn, *INSTALL, "curl")
        assert no_lists.exit_status == 100
        assert no_lists.stderr == "E: Unable to locate package curl\n"
        assert (await run(conn, *APT, "-q", "update")).exit_status == 0

        refused = await run(conn, *INSTALL, "curl", "no-such-package", "libpq5=9.9-1")
        assert refused.exit_status == 100
        assert refused.stderr == (
            "E: Unable to locate package no-such-package\n"
            "E: Version '9.9-1' for 'libpq5' was not found\n"
        )
        assert (await _query(conn, "curl")).exit_status == 1  # all or nothing

        asked = await run(conn, *APT, "install", "curl")
        assert asked.exit_status == 1
        assert asked.stdout.endswith("Do you want to continue? [Y/n] Abort.\n")

        done = await run(conn, *INSTALL, "curl=8.5.0-2ubuntu10", "libpq5", "ffmpeg")
        assert done.exit_status == 0, done.stderr
        assert "Setting up curl (8.5.0-2ubuntu10) ...\n" in done.stdout
        listed = await _query(conn, "libpq5", "curl", "ffmpeg", "nginx")
        assert listed.exit_status == 1
        assert listed.stdout == (
            "curl\t8.5.0-2ubuntu10\tinstalled\n"
            "ffmpeg\t7:6.1.1-3ubuntu5\tinstalled\n"
            "libpq5\t16.9-0ubuntu0.24.04.1\tinstalled\n"
        )
        assert listed.stderr == "dpkg-query: no packages found matching nginx\n"
        default = await run(conn, "dpkg-query", "-W", "curl")
        assert default.stdout == "curl\t8.5.0-2ubuntu10\n"
        abbrev = await run(
            conn, "dpkg-query", "-W", "-f${db:Status-Abbrev}|${Package;8}|\\n", "curl"
        )
        assert abbrev.stdout == "ii |curl    |\n"
        # dpkg keeps what follows a short option, '=' included, as its value.
        equals = await run(conn, "dpkg-query", "-W", "-f=${Package}\\n", "curl")
        assert equals.stdout == "=curl\n"

        again = await run(conn, *INSTALL, "curl=8.5.0-2ubuntu10")
        assert again.exit_status == 0
        assert "curl is already the newest version (8.5.0-2ubuntu10).\n" in again.stdout
        assert "0 upgraded, 0 newly installed" in again.stdout

        down = await run(conn, *INSTALL, "libpq5=16.2-1ubuntu4")
        assert down.exit_status == 100
        assert down.stderr == (
            "E: Packages were downgraded and -y was used without --allow-downgrades.\n"
        )
        allowed = await run(conn, *INSTALL, "--allow-downgrades", "libpq5=16.2-1ubuntu4")
        assert allowed.exit_status == 0
        assert (await _query(conn, "libpq5")).stdout == "libpq5\t16.2-1ubuntu4\tinstalled\n"
        assert (await run(conn, "cat", "/var/lib/dpkg/status")).stdout.startswith(
            "Package: curl\nStatus: install ok installed\n"
        )


async def test_apt_get_needs_root(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot(ciuser="ops")
    async with await guest.connect(client_key, username="ops") as conn:
        denied = await run(conn, *INSTALL, "curl")
        assert denied.exit_status == 100
        assert denied.stderr.endswith("are you root?\n")
        # Anyone may read dpkg's database.
        assert (await _query(conn, "curl")).exit_status == 1
