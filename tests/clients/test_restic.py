"""The restic client: secrets reach restic only through its environment and the password
file (never argv, never an error text), and restic 0.14's stderr (captured from real runs
against the simulator's S3 server) becomes a typed reason with a fix."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from homeport.clients.restic import Restic, ResticError, ResticRepo, classify
from homeport.clients.secret import Secret

SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def repo(tmp_path: Path) -> ResticRepo:
    key = tmp_path / "restic.key"
    key.write_text("the repository password\n")
    return ResticRepo(
        repository="s3:https://s3.example.com/bucket/homeport",
        password_file=key,
        access_key=Secret("AKIAEXAMPLE"),
        secret_key=Secret(SECRET_KEY),
        region="eu-central-1",
    )


async def test_secrets_go_through_the_environment_never_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "seen.json"
    fake = tmp_path / "restic"
    fake.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        f"json.dump({{'argv': sys.argv, 'env': dict(os.environ)}}, open({str(seen)!r}, 'w'))\n"
    )
    fake.chmod(0o755)
    target = repo(tmp_path)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "from-the-daemon")  # never handed down
    await Restic(str(fake)).run(target, ["snapshots", "--json"])
    run = json.loads(seen.read_text())
    assert SECRET_KEY not in " ".join(run["argv"])
    assert "the repository password" not in json.dumps(run)  # restic reads the file itself
    env = run["env"]
    assert env["AWS_SECRET_ACCESS_KEY"] == SECRET_KEY
    assert env["RESTIC_PASSWORD_FILE"] == str(target.password_file)
    assert env["RESTIC_REPOSITORY"] == target.repository
    assert env["AWS_DEFAULT_REGION"] == "eu-central-1"
    assert "AWS_SESSION_TOKEN" not in env
    assert repr(target).count(SECRET_KEY) == 0


async def test_a_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ResticError, match="install Debian's restic"):
        await Restic(str(tmp_path / "no-restic")).run(repo(tmp_path), ["cat", "config"])


@pytest.mark.parametrize(
    ("stderr", "reason", "text"),
    [
        ("Fatal: wrong password or no key found\n", "WrongKey", "encryption key does not open"),
        (
            "Fatal: unable to open config file: Stat: The request signature we calculated does "
            "not match the signature you provided. Check your key and signing method.\n"
            "Is there a repository at the following location?\n"
            "s3:https://s3.example.com/bucket/homeport\n",
            "S3AccessDenied",
            "refused the credentials",
        ),
        (
            "Fatal: unable to open config file: Stat: The AWS Access Key Id you provided does "
            "not exist in our records.\nIs there a repository at the following location?\n",
            "S3AccessDenied",
            "check credentialsSecret",
        ),
        (
            "Fatal: unable to open config file: Stat: The specified key does not exist.\n"
            "Is there a repository at the following location?\n",
            "NoRepository",
            "no restic repository",
        ),
        (
            "Fatal: unable to open config file: Stat: The specified bucket does not exist\n",
            "NoRepository",
            "no restic repository",
        ),
        (
            f"Fatal: unable to open config file: Stat: Get dial tcp: {SECRET_KEY} refused\n",
            "ResticFailed",
            "restic failed",
        ),
    ],
)
def test_restic_errors_are_typed_and_scrubbed(
    tmp_path: Path, stderr: str, reason: str, text: str
) -> None:
    error = classify(stderr, repo(tmp_path))
    assert error.reason == reason and text in error.message
    assert SECRET_KEY not in error.message
    assert "Is there a repository" not in error.message


@pytest.mark.skipif(shutil.which("restic") is None, reason="needs Debian's restic")
async def test_a_source_failing_mid_stream_leaves_no_snapshot(tmp_path: Path) -> None:
    """A read of the archive that fails half-way kills restic before end-of-file: no
    truncated copy is ever stored as if it were whole (a local repository, real restic)."""
    local = replace(repo(tmp_path), repository=str(tmp_path / "repo"), cache_dir=tmp_path / "c")
    restic = Restic()
    assert await restic.ensure_repository(local) is True
    assert await restic.ensure_repository(local) is False

    async def failing() -> AsyncIterator[bytes]:
        yield b"the first half of an archive" * 1000
        raise OSError("connection to the node lost")

    with pytest.raises(OSError, match="connection to the node lost"):
        await restic.backup_stdin(
            local, filename="web/a.vma.zst", chunks=failing(), tags=["homeport"], host="homeport"
        )
    assert await restic.snapshots(local, tags=["homeport"]) == []

    async def whole() -> AsyncIterator[bytes]:
        yield b"a whole archive"

    snapshot = await restic.backup_stdin(
        local, filename="web/a.vma.zst", chunks=whole(), tags=["homeport"], host="homeport"
    )
    assert (
        await restic.dump_sha256(local, snapshot, "/web/a.vma.zst")
        == hashlib.sha256(b"a whole archive").hexdigest()
    )
