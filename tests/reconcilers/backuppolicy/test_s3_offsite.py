"""The S3 offsite: real restic on the control plane against the simulator's S3 server
(SigV4 checked). Copies are encrypted before upload, verified by reading them back, and
recorded; a damaged copy, a wrong encryption key and wrong S3 credentials are each reported
(event + Degraded), never counted as copied, and no secret reaches the store."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from homeport.controller.config import Settings
from homeport.simulator.s3 import S3Server
from testkit.harness import until
from tests.reconcilers.backuppolicy.simestate import BackupEstate, backup_estate, policy, vm

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("restic") is None, reason="needs Debian's restic"),
]

START = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
ACCESS_KEY = "AKIAHOMEPORTTEST0001"
SECRET_KEY = "b3Nv1y8Lq0sRrS3cr3tK3yF0rT3sts0nlyXyZ12"
PASSWORD = "correct horse battery staple offsite"
BUCKET = "homeport-offsite"


@pytest.fixture
async def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[S3Server]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # restic's cache
    server = S3Server(tmp_path / "s3", access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    await server.start()
    yield server
    await server.stop()


def offsite_policy(server: S3Server) -> str:
    return policy(
        "daily",
        f"""  selector: {{names: [web]}}
  schedule: "02:00"
  offsite:
    s3:
      endpoint: {server.url}
      bucket: {BUCKET}
      prefix: site-a
      credentialsSecret: offsite/s3.env
      encryptionKeySecret: offsite/restic.key
  restoreTest: null
""",
    )


def key_of(server: S3Server) -> str:
    return f"s3:{server.url}/{BUCKET}/site-a"


def write_secrets(
    secret_key: str = SECRET_KEY, password: str = PASSWORD
) -> Callable[[Settings], None]:
    def prepare(settings: Settings) -> None:
        folder = settings.secrets.directory / "offsite"
        folder.mkdir(parents=True, exist_ok=True)
        credentials = folder / "s3.env"
        credentials.write_text(
            f"AWS_ACCESS_KEY_ID={ACCESS_KEY}\nAWS_SECRET_ACCESS_KEY={secret_key}\n"
        )
        key = folder / "restic.key"
        key.write_text(password + "\n")
        for path in (credentials, key):
            path.chmod(0o600)

    return prepare


def copy_states(estate: BackupEstate, volid: str) -> dict[str, str]:
    web = estate.details("daily").get("vms", {}).get("web", {})
    return dict(web.get("copies", {})) if web.get("newestBackup") == volid else {}


async def restic_dump(server: S3Server, password_file: Path, path: str, cache: Path) -> bytes:
    """Read a copy back with the restic CLI, as an operator restoring from the bucket would
    (a subprocess of the event loop: the S3 server answers on this loop)."""
    env = {
        "PATH": os.environ["PATH"],
        "RESTIC_REPOSITORY": f"s3:{server.url}/{BUCKET}/site-a",
        "RESTIC_PASSWORD_FILE": str(password_file),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "RESTIC_CACHE_DIR": str(cache),
    }
    process = await asyncio.create_subprocess_exec(
        "restic", "dump", "latest", path, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return out


async def test_copies_are_encrypted_verified_recorded_and_redone_after_a_mismatch(
    tmp_path: Path, s3: S3Server
) -> None:
    async with backup_estate(
        tmp_path, vm("web") + offsite_policy(s3), start=START, prepare=write_secrets()
    ) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        vmid = estate.vmid("web")
        await estate.jump_to((START + timedelta(days=1)).replace(hour=2, minute=30))
        (volid,) = estate.archives(vmid)
        name = volid.split("/", 1)[1]
        key = key_of(s3)
        await until(lambda: copy_states(estate, volid) == {key: "verified"}, what="S3 copy")

        archive = next(v for v in estate.world.volumes.by_key.values() if v.volid == volid)
        data = (estate.world.archive_root / str(archive.archive)).read_bytes()
        source = hashlib.sha256(data).hexdigest()
        # The bucket holds a restic repository under the prefix ...
        keys = s3.keys(BUCKET)
        assert "site-a/config" in keys and any(k.startswith("site-a/data/") for k in keys)
        assert all(k.startswith("site-a/") for k in keys)
        # ... whose objects are ciphertext: no stretch of the archive appears in any of them.
        probe = data[len(data) // 2 : len(data) // 2 + 32]
        assert len(probe) == 32
        assert not any(probe in s3.object_path(BUCKET, k).read_bytes() for k in keys)
        # The operator's restic, with the key, reads the archive back byte for byte.
        secrets = estate.settings.secrets.directory
        restored = await restic_dump(
            s3, secrets / "offsite/restic.key", f"/web/{name}", tmp_path / "c"
        )
        assert hashlib.sha256(restored).hexdigest() == source

        record = estate.read(lambda s: s.backups.get(volid))
        copy = record["offsite"][key]
        assert record["sha256"] == source and copy["sha256"] == source
        assert copy["state"] == "verified" and copy["snapshot"]
        assert estate.details("daily")["vms"]["web"]["threeTwoOne"]["holds"] is True
        # Neither the S3 secret key nor the repository password went to the store.
        store_bytes = b"".join(
            p.read_bytes()
            for p in estate.settings.store.path.parent.iterdir()
            if p.name.startswith(estate.settings.store.path.name)
        )
        assert SECRET_KEY.encode() not in store_bytes and PASSWORD.encode() not in store_bytes
        # Every request was signed right (the refusals are the first look for a bucket
        # and a repository that did not exist yet).
        assert set(s3.requests.refused) <= {"NoSuchBucket", "NoSuchKey"}

        # The next night a read from pve1 comes back damaged: the read-back catches it.
        newest = await estate.damaged_night(
            (START + timedelta(days=2)).replace(hour=2, minute=30), vmid
        )
        await until(
            lambda: (
                estate.condition("daily", "Degraded") is None
                and estate.read(lambda s: s.backups.get(newest))["offsite"][key]["state"]
                == "verified"
            ),
            timeout=30,
            what="the copy redone",
        )
        assert estate.read(lambda s: s.backups.get(newest))["offsite"][key]["attempts"] == 2
        # Only good copies stay: one snapshot per night (the damaged one was forgotten),
        # and the first night's copy is kept (homeport never prunes the offsite).
        night2 = await restic_dump(
            s3, secrets / "offsite/restic.key", f"/web/{newest.split('/', 1)[1]}", tmp_path / "c"
        )
        second = next(v for v in estate.world.volumes.by_key.values() if v.volid == newest)
        expected = (estate.world.archive_root / str(second.archive)).read_bytes()
        assert night2 == expected

        # The bucket gives damaged data back: restic's MACs catch it on the read-back, the
        # copy is reported and never recorded as copied, and the retry verifies.
        s3.damaged_reads = 1000
        await estate.jump_to((START + timedelta(days=3)).replace(hour=2, minute=30))
        third = estate.archives(vmid)[-1]
        await until(
            lambda: (estate.condition("daily", "Degraded") or ("", "", ""))[2].startswith(
                "copy failed"
            ),
            what="the unreadable copy reported",
        )
        assert copy_states(estate, third) == {key: "failed"}
        assert len(estate.events("daily", "OffsiteCopyFailed")) == 2
        s3.damaged_reads = 0
        await until(lambda: copy_states(estate, third) == {key: "verified"}, what="read back")
        assert estate.pve.check() == []


async def test_wrong_credentials_and_a_wrong_key_are_reported_never_copied(
    tmp_path: Path, s3: S3Server
) -> None:
    async with backup_estate(
        tmp_path,
        vm("web") + offsite_policy(s3),
        start=START,
        prepare=write_secrets(secret_key="not-the-secret-key-at-all-0000000000000"),
    ) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        vmid = estate.vmid("web")
        await estate.jump_to((START + timedelta(days=1)).replace(hour=2, minute=30))
        (volid,) = estate.archives(vmid)
        key = key_of(s3)

        def degraded() -> str:
            found = estate.condition("daily", "Degraded")
            return found[2] if found and found[1] == "OffsiteCopyFailed" else ""

        await until(lambda: "S3AccessDenied" in degraded(), what="wrong credentials reported")
        assert "refused the credentials" in degraded()
        assert "SignatureDoesNotMatch" in s3.requests.refused
        assert copy_states(estate, volid) == {key: "failed"}
        assert s3.keys(BUCKET) == []  # nothing was written with the wrong signature
        assert any("S3AccessDenied" in e for e in estate.events("daily", "OffsiteCopyFailed"))
        assert "not-the-secret-key" not in degraded()

        # The right credentials: the next retry creates the repository and copies.
        write_secrets()(estate.settings)
        await until(lambda: copy_states(estate, volid) == {key: "verified"}, what="copied")

        # Another encryption key than the repository's: reported, never counted as copied.
        write_secrets(password="zebra-quartz-9931-wrong")(estate.settings)
        await estate.jump_to((START + timedelta(days=2)).replace(hour=2, minute=30))
        newest = estate.archives(vmid)[-1]
        await until(lambda: "WrongKey" in degraded(), what="the wrong key reported")
        assert "does not open the repository" in degraded()
        assert copy_states(estate, newest) == {key: "failed"}
        assert "zebra-quartz" not in degraded()
