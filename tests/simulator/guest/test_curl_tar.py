"""``curl`` downloads over real HTTP from the guest's own address with curl's exit statuses
(22 for an HTTP error under --fail, 7 for a refused connection, 1 for a protocol --proto
does not allow, also after a redirect); ``tar -x`` unpacks what it is given, strips
components, never lets a member out of its target, and refuses what is not an archive."""

from __future__ import annotations

import io
import socket
import tarfile

import asyncssh

from tests.artifact_server import serve_artifacts, sha256_of, tarball

from .conftest import BootFn, run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_curl_downloads_and_fails_like_curl(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    body = tarball({"bin/serve": "#!/bin/sh\n"}, top="shop-1.2")
    async with serve_artifacts() as server, await guest.connect(client_key) as conn:
        server.files["/shop.tar.gz"] = body
        server.errors["/broken.tar.gz"] = 503
        server.redirects["/latest.tar.gz"] = "/shop.tar.gz"
        server.redirects["/elsewhere.tar.gz"] = "https://127.0.0.1:1/shop.tar.gz"
        curl = ("curl", "--fail", "--silent", "--show-error", "--location")
        ok = await run(conn, *curl, "--output", "/root/a.tgz", "--", f"{server.url}/shop.tar.gz")
        assert ok.exit_status == 0, ok.stderr
        summed = await run(conn, "sha256sum", "--", "/root/a.tgz")
        assert summed.stdout == f"{sha256_of(body)}  /root/a.tgz\n"

        moved = await run(conn, *curl, "-o", "/root/b.tgz", f"{server.url}/latest.tar.gz")
        assert moved.exit_status == 0, moved.stderr
        assert (await run(conn, "sha256sum", "/root/b.tgz")).stdout.startswith(sha256_of(body))

        failed = await run(conn, *curl, "-o", "/root/c.tgz", f"{server.url}/broken.tar.gz")
        assert (failed.exit_status, failed.stderr) == (
            22,
            "curl: (22) The requested URL returned error: 503\n",
        )
        assert (await run(conn, "test", "-e", "/root/c.tgz")).exit_status == 1

        refused = await run(conn, *curl, "-o", "/root/d", f"http://127.0.0.1:{_free_port()}/x")
        assert refused.exit_status == 7 and "Couldn't connect to server" in refused.stderr

        only_https = ("--proto", "=https", "--proto-redir", "=https")
        plain = await run(conn, *curl, *only_https, "-o", "/root/e", f"{server.url}/shop.tar.gz")
        assert (plain.exit_status, plain.stderr) == (1, 'curl: (1) Protocol "http" not supported\n')
        downgrade = ("--proto", "=http,https", "--proto-redir", "=http")
        redirected = await run(
            conn, *curl, *downgrade, "-o", "/root/f", f"{server.url}/elsewhere.tar.gz"
        )
        assert redirected.exit_status == 1 and 'Protocol "https"' in redirected.stderr
        assert server.downloads["/shop.tar.gz"] == 2
        no_dir = await run(conn, *curl, "-o", "/no/such/dir/x", f"{server.url}/shop.tar.gz")
        assert no_dir.exit_status == 23


async def test_tar_extracts_strips_and_refuses(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as archive:
        for name in ("../escape", "fine"):
            info = tarfile.TarInfo(name)
            info.size = 2
            archive.addfile(info, io.BytesIO(b"x\n"))
    async with serve_artifacts() as server, await guest.connect(client_key) as conn:
        server.files["/a.tgz"] = tarball({"bin/serve": "run\n", "README": "hi\n"}, top="v1")
        server.files["/junk.tgz"] = b"this is not an archive"
        server.files["/evil.tar"] = evil.getvalue()
        for name in server.files:
            got = await run(conn, "curl", "-f", "-o", f"/root{name}", f"{server.url}{name}")
            assert got.exit_status == 0, got.stderr
        assert (await run(conn, "install", "-d", "/srv/r", "/srv/s", "/srv/t")).exit_status == 0
        tar = ("tar", "-x", "--no-same-owner")
        stripped = await run(
            conn, *tar, "-f", "/root/a.tgz", "-C", "/srv/r", "--strip-components=1"
        )
        assert stripped.exit_status == 0, stripped.stderr
        assert (await run(conn, "cat", "/srv/r/bin/serve")).stdout == "run\n"
        owner = await run(conn, "stat", "-c", "%U:%G %a", "/srv/r/bin/serve")
        assert owner.stdout == "root:root 644\n"  # not the archive's uid 1234
        kept = await run(conn, *tar, "-f", "/root/a.tgz", "-C", "/srv/s")
        assert kept.exit_status == 0
        assert (await run(conn, "test", "-f", "/srv/s/v1/README")).exit_status == 0
        junk = await run(conn, *tar, "-f", "/root/junk.tgz", "-C", "/srv/t")
        assert junk.exit_status == 2
        assert junk.stderr.startswith("tar: This does not look like a tar archive\n")
        escaped = await run(conn, *tar, "-f", "/root/evil.tar", "-C", "/srv/t")
        assert escaped.exit_status == 2 and "../escape" in escaped.stderr
        assert (await run(conn, "test", "-f", "/srv/t/fine")).exit_status == 0
        assert (await run(conn, "test", "-e", "/srv/escape")).exit_status == 1
        missing = await run(conn, *tar, "-f", "/root/none.tgz", "-C", "/srv/t")
        assert missing.exit_status == 2 and "Cannot open: No such file" in missing.stderr
