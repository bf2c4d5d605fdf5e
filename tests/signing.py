"""Real signing keys for tests: ssh-keygen's (git's ``gpg.format=ssh``) and GnuPG's.

Hermetic: ``hermetic_git`` points HOME at a temporary directory and turns off the global
and system git config for the work clones and the hooks they run, so nobody's
``commit.gpgSign`` or ``gpg.ssh.allowedSignersFile`` changes a verdict.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testkit import gitwork
from testkit.gitwork import WorkClone


@dataclass(frozen=True)
class SshKey:
    private: Path
    principal: str

    @property
    def public(self) -> str:
        return Path(f"{self.private}.pub").read_text().strip()

    @property
    def fingerprint(self) -> str:
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.private)],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.split()[1]

    def allowed_line(self) -> str:
        return f"{self.principal} {self.public}\n"


def ssh_key(directory: Path, name: str, principal: str) -> SshKey:
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", principal, "-f", str(private)],
        check=True,
    )
    return SshKey(private, principal)


def signed_commit(
    work: WorkClone, message: str, *config: str, env: dict[str, str] | None = None
) -> str:
    """Commit everything with ``git -c CONFIG... commit -S``."""
    work.git("add", "-A")
    options = [part for setting in config for part in ("-c", setting)]
    subprocess.run(
        [
            "git",
            "-C",
            str(work.path),
            *options,
            "commit",
            "-q",
            "-S",
            "--allow-empty",
            "-m",
            message,
        ],
        env={**gitwork.ENV, **(env or {})},
        capture_output=True,
        check=True,
    )
    return work.git("rev-parse", "HEAD").stdout.strip()


def ssh_commit(work: WorkClone, key: SshKey, message: str = "change") -> str:
    """Signed with ``key`` exactly as a new git user does (``gpg.format=ssh``)."""
    return signed_commit(work, message, "gpg.format=ssh", f"user.signingkey={key.private}")


def tamper(work: WorkClone, sha: str, message: str) -> str:
    """The commit ``sha`` with another message but its signature kept (``gpgsig`` header)."""
    raw = work.git("cat-file", "commit", sha).stdout
    head, _, _ = raw.partition("\n\n")
    forged = subprocess.run(
        ["git", "-C", str(work.path), "hash-object", "-w", "-t", "commit", "--stdin"],
        input=f"{head}\n\n{message}\n",
        capture_output=True,
        text=True,
        env=gitwork.ENV,
        check=True,
    )
    return forged.stdout.strip()


@dataclass(frozen=True)
class GpgKey:
    home: Path
    fingerprint: str

    def export(self) -> bytes:
        return gpg(self.home, "--export", "--armor", self.fingerprint).stdout


def gpg(home: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    command = ["gpg", "--homedir", str(home), "--batch", "--quiet", *args]
    done = subprocess.run(command, input=input, capture_output=True, check=False)
    if done.returncode != 0:
        # gpg says why only on stderr; a bare CalledProcessError would hide it
        raise AssertionError(
            f"{' '.join(command)} exited {done.returncode}:\n{done.stderr.decode(errors='replace')}"
        )
    return done


def gpg_key(home: Path, uid: str) -> GpgKey:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    gpg(home, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
    listing = gpg(home, "--list-keys", "--with-colons", uid).stdout.decode()
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr")
    )
    return GpgKey(home, fingerprint)


def trusted_keyring(home: Path, *keys: GpgKey) -> Path:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    for key in keys:
        gpg(home, "--import", input=key.export())
    return home


def gpg_commit(work: WorkClone, key: GpgKey, message: str = "change") -> str:
    """Signed with an OpenPGP key (git's default ``gpg.format``)."""
    env = {"GNUPGHOME": str(key.home)}
    return signed_commit(work, message, f"user.signingkey={key.fingerprint}", env=env)


def stop_gpg_agents(*homes: Path) -> None:
    for home in homes:
        if home.exists():
            subprocess.run(
                ["gpgconf", "--homedir", str(home), "--kill", "all"],
                capture_output=True,
                check=False,
            )


@pytest.fixture
def hermetic_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HOME and git's global config isolated for this test's clones and hooks."""
    home = tmp_path / "home"
    home.mkdir()
    for name, value in {
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setitem(gitwork.ENV, name, value)
        monkeypatch.setenv(name, value)
    return home


@pytest.fixture
def keys(tmp_path: Path, hermetic_git: Path) -> dict[str, SshKey]:
    """alice's key is allowed (``allowed``), mallory's is not."""
    return {
        "alice": ssh_key(tmp_path / "keys", "alice", "alice@example.com"),
        "mallory": ssh_key(tmp_path / "keys", "mallory", "mallory@example.com"),
    }


@pytest.fixture
def allowed(tmp_path: Path, keys: dict[str, SshKey]) -> Path:
    """An allowed signers file with alice's key."""
    path = tmp_path / "allowed_signers"
    path.write_text(keys["alice"].allowed_line())
    return path
