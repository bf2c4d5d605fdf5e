"""The restic client: secrets reach restic only through its environment and the password
file (never argv, never an error text), and restic 0.14's stderr (captured from real runs
against the simulator's S3 server) becomes a typed reason with a fix."""

from __future__ import annotations

import json
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
