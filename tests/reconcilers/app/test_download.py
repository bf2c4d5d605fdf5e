"""FetchArtifact's steps on the VM, against a small fake VM that keeps its files: nothing is
unpacked before the checksum matched, the release directory appears only by the final
rename, and every failure leaves neither a download nor a staging directory behind."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from homeport.clients.errors import CommandFailed
from homeport.clients.ssh import CommandResult
from homeport.reconcilers.app.artifact import FetchArtifact
from homeport.reconcilers.app.download import download_artifact
from homeport.reconcilers.errors import PermanentError, TemporaryError

BODY = b"a tarball"
SHA = hashlib.sha256(BODY).hexdigest()
TARGET = f"/srv/apps/shop/releases/{SHA}"


@dataclass
class FakeVM:
    """Paths that exist on the VM; ``served`` is what the URL answers (None: HTTP 503);
    ``tar_error``: tar's stderr when it fails."""

    served: bytes | None = BODY
    tar_error: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    ran: list[str] = field(default_factory=list)

    async def run(self, host: str, argv: list[str], **_: Any) -> CommandResult:
        self.ran.append(argv[0])
        paths = [a for a in argv[1:] if a.startswith("/")]
        stdout, failure = b"", None
        if argv[0] == "rm":
            for path in paths:
                self.dirs.discard(path)
                for name in [f for f in self.files if f == path or f.startswith(path + "/")]:
                    del self.files[name]
        elif argv[0] == "curl" and self.served is None:
            failure = "curl: (22) The requested URL returned error: 503"
        elif argv[0] == "curl":
            self.files[argv[argv.index("--output") + 1]] = self.served
        elif argv[0] == "sha256sum":
            stdout = f"{hashlib.sha256(self.files[paths[0]]).hexdigest()}  {paths[0]}\n".encode()
        elif argv[0] == "install":
            self.dirs.add(paths[-1])
        elif argv[0] == "tar" and self.tar_error:
            failure = self.tar_error
        elif argv[0] == "tar":
            self.files[argv[argv.index("-C") + 1] + "/bin/shop"] = b"run"
        elif argv[0] == "mv":
            self.dirs.discard(paths[0])
            self.dirs.add(paths[1])
            moved = {
                f: f.replace(paths[0], paths[1], 1) for f in self.files if f.startswith(paths[0])
            }
            for old, new in moved.items():
                self.files[new] = self.files.pop(old)
        if failure is not None:
            raise CommandFailed(host, argv, 2, failure)
        return CommandResult(tuple(argv), 0, stdout, b"")

    def leftovers(self) -> list[str]:
        return sorted(p for p in [*self.files, *self.dirs] if ".partial" in p or ".download" in p)


@dataclass
class Memory:
    slots: dict[str, Any] = field(default_factory=dict)

    def remember(self, value: Any, *, slot: str | None = None) -> None:
        self.slots[slot or ""] = dict(value)


def action(sha: str = SHA) -> FetchArtifact:
    return FetchArtifact("127.0.3.9", "https://example.com/shop.tar.gz", sha, 1, TARGET)


async def test_verified_then_unpacked_then_renamed_into_place() -> None:
    vm, memory = FakeVM(), Memory()
    await download_artifact(vm, action(), memory)  # type: ignore[arg-type]
    assert vm.ran.index("curl") < vm.ran.index("sha256sum") < vm.ran.index("tar")
    assert vm.ran[-1] == "mv" and TARGET in vm.dirs and f"{TARGET}/bin/shop" in vm.files
    assert vm.leftovers() == [] and memory.slots == {"artifact": {}}


async def test_a_checksum_mismatch_unpacks_nothing_and_is_remembered() -> None:
    vm, memory = FakeVM(served=b"another tarball"), Memory()
    with pytest.raises(PermanentError) as raised:
        await download_artifact(vm, action(), memory)  # type: ignore[arg-type]
    assert raised.value.reason == "ChecksumMismatch"
    assert "tar" not in vm.ran and TARGET not in vm.dirs and vm.leftovers() == []
    received = hashlib.sha256(b"another tarball").hexdigest()
    assert memory.slots["artifact"] == {"url": action().url, "sha256": SHA, "received": received}


@pytest.mark.parametrize(
    ("vm", "error", "reason"),
    [
        (FakeVM(served=None), TemporaryError, "DownloadFailed"),
        (
            FakeVM(tar_error="tar: bin/shop: Cannot open: No space left on device"),
            TemporaryError,
            "DiskFull",
        ),
        (
            FakeVM(tar_error="tar: This does not look like a tar archive"),
            PermanentError,
            "ArtifactUnpackFailed",
        ),
    ],
)
async def test_a_failure_leaves_nothing_behind(vm: FakeVM, error: type, reason: str) -> None:
    with pytest.raises(error) as raised:
        await download_artifact(vm, action(), Memory())  # type: ignore[arg-type]
    assert raised.value.reason == reason
    assert TARGET not in vm.dirs and vm.leftovers() == []
