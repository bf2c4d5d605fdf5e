"""Offsite copies: every new archive copied to a second storage (on the node) and to a
directory on another machine (over SSH), verified by sha256 at both ends and recorded; a
copy damaged on the way is caught by its checksum, reported and redone."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from testkit.harness import until
from tests.reconcilers.backuppolicy.simestate import backup_estate, policy, vm

pytestmark = pytest.mark.integration

OFFSITE = policy(
    "daily",
    """  selector: {names: [web]}
  schedule: "02:00"
  offsite:
    storage: nas
    ssh: {host: pve3, path: /srv/backups/offsite, user: root}
  restoreTest: null
""",
)
START = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
SSH_KEY = "ssh:pve3:/srv/backups/offsite"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_copies_are_verified_recorded_and_redone_after_a_mismatch(tmp_path: Path) -> None:
    async with backup_estate(tmp_path, vm("web") + OFFSITE, start=START) as estate:
        await estate.ready({"VM", "BackupPolicy"})
        vmid = estate.vmid("web")
        await estate.jump_to((START + timedelta(days=1)).replace(hour=2, minute=30))
        (volid,) = estate.archives(vmid)
        name = volid.split("/", 1)[1]

        def copies() -> dict[str, str]:
            web = estate.details("daily").get("vms", {}).get("web", {})
            return dict(web.get("copies", {})) if web.get("newestBackup") == volid else {}

        await until(
            lambda: copies() == {"storage:nas": "verified", SSH_KEY: "verified"},
            what="both copies verified",
        )
        archive = next(v for v in estate.world.volumes.by_key.values() if v.volid == volid)
        source = _sha256(estate.world.archive_root / str(archive.archive))
        # On the second storage, where PVE lists it (and every node sees it) ...
        assert estate.archives(vmid, storage="nas") == [f"nas:backup/{name}"]
        # ... and on pve3 over SSH, with its checksum beside it.
        offsite = estate.estate.dir / "nodes/pve3/srv/backups/offsite/web"
        assert sorted(p.name for p in offsite.iterdir()) == [name, f"{name}.sha256"]
        assert _sha256(offsite / name) == source
        assert (offsite / f"{name}.sha256").read_text() == f"{source}  {name}\n"
        record = estate.read(lambda s: s.backups.get(volid))
        assert record["sha256"] == source and record["policy"] == "daily"
        assert {k: v["state"] for k, v in record["offsite"].items()} == {
            "storage:nas": "verified",
            SSH_KEY: "verified",
        }
        three = estate.details("daily")["vms"]["web"]["threeTwoOne"]
        assert three == {"holds": True, "copies": 4, "missing": None}

        # The next night a read from pve1 comes back damaged: the checksum catches it.
        newest = await estate.damaged_night(
            (START + timedelta(days=2)).replace(hour=2, minute=30), vmid
        )
        # No partial file stays behind, and the retry (after a minute) verifies.
        await until(
            lambda: (
                estate.condition("daily", "Degraded") is None
                and all(
                    c["state"] == "verified"
                    for c in estate.read(lambda s: s.backups.get(newest))["offsite"].values()
                )
            ),
            timeout=30,
            what="the copy redone",
        )
        record = estate.read(lambda s: s.backups.get(newest))
        assert max(c["attempts"] for c in record["offsite"].values()) == 2
        assert not list(offsite.glob("*.partial"))
        assert not list((estate.world.archive_root / "nas" / "shared" / "dump").glob("*.partial"))
        assert estate.pve.check() == []
