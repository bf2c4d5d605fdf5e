"""Releases checked out with the real git from a repository on the control plane."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncssh
import httpx
import pytest

from .conftest import BootFn, deploy_app, run, wait_for


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def control_repo(tmp_path: Path) -> Path:
    """A bare repository on the control plane with one good release."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README").write_text("app\n")
    git(work, "add", "README")
    git(work, "commit", "-q", "-m", "good")
    bare = tmp_path / "app.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare


async def test_clone_checkout_and_release_reported(
    boot: BootFn, client_key: asyncssh.SSHKey, control_repo: Path, tmp_path: Path
) -> None:
    guest = await boot()
    url = f"file://{control_repo}"
    async with await guest.connect(client_key) as conn:
        remote = await run(conn, "git", "ls-remote", url, "refs/heads/main")
        assert remote.exit_status == 0
        sha = remote.stdout.split()[0]
        cloned = await run(conn, "git", "clone", "-q", url, f"/srv/apps/web/releases/{sha}")
        assert cloned.exit_status == 0, cloned.stderr
        head = await run(conn, "git", "-C", f"/srv/apps/web/releases/{sha}", "rev-parse", "HEAD")
        assert head.stdout == f"{sha}\n"
        await deploy_app(conn, "web", 8080, release=sha)
        async with httpx.AsyncClient(timeout=2) as http:
            assert (await http.get(f"http://{guest.address}:8080/")).json()["release"] == sha

        # A broken release pushed to the repository: its SIMULATE file makes health fail.
        work = tmp_path / "work"
        (work / "SIMULATE").write_text("health=500\n")
        git(work, "add", "SIMULATE")
        git(work, "commit", "-q", "-m", "broken")
        git(work, "push", "-q", str(control_repo), "main")
        release = f"/srv/apps/web/releases/{sha}"
        fetched = await run(conn, "git", "-C", release, "fetch", "-q", "origin")
        assert fetched.exit_status == 0, fetched.stderr
        checkout = await run(conn, "git", "-C", release, "checkout", "-q", "origin/main")
        assert checkout.exit_status == 0, checkout.stderr
        assert (await run(conn, "systemctl", "restart", "web")).exit_status == 0

        async def failing() -> bool:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"http://{guest.address}:8080/")).status_code == 500

        await wait_for(failing)


async def test_git_errors_look_like_git(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        missing = await run(conn, "git", "clone", "/no/such/repo.git", "/srv/apps/x")
        assert missing.exit_status == 128
        assert "does not exist" in missing.stderr
        not_repo = await run(conn, "git", "-C", "/srv/apps", "rev-parse", "HEAD")
        assert not_repo.exit_status == 128
        assert "not a git repository" in not_repo.stderr
        network = await run(conn, "git", "clone", "https://example.com/x.git", "/srv/x")
        assert network.exit_status == 128
