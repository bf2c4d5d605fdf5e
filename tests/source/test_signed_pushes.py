"""The pre-receive hook's signature gate, with real git, real ssh-keygen and gpg keys."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.source.hooks import init_repository
from homeport.source.signatures import SignaturePolicy, read_repository_policy, verify_revision
from homeport.source.sources import GitSource
from testkit.gitwork import WorkClone, machine
from tests.signing import (
    SshKey,
    allowed,
    gpg_commit,
    gpg_key,
    hermetic_git,
    keys,
    ssh_commit,
    stop_gpg_agents,
    tamper,
    trusted_keyring,
)

pytestmark = pytest.mark.integration
__all__ = ["allowed", "hermetic_git", "keys"]


def signed_repo(tmp_path: Path, policy: SignaturePolicy) -> tuple[Path, WorkClone]:
    repo = init_repository(tmp_path / "estate.git", signatures=policy)
    return repo, WorkClone(repo, tmp_path / "work")


def test_init_records_the_policy_the_hook_reads(tmp_path: Path, allowed: Path) -> None:
    policy = SignaturePolicy("every-commit", allowed_signers=allowed)
    repo, _ = signed_repo(tmp_path, policy)
    assert read_repository_policy(repo) == policy
    init_repository(repo)  # repairing the hooks keeps the policy
    assert read_repository_policy(repo) == policy
    # Without a policy the repository says off (and an unknown word means the strictest).
    assert read_repository_policy(init_repository(tmp_path / "plain.git")).policy == "off"


def test_a_signed_push_is_accepted(tmp_path: Path, keys: dict[str, SshKey], allowed: Path) -> None:
    repo, work = signed_repo(tmp_path, SignaturePolicy("tip", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    sha = ssh_commit(work, keys["alice"])
    result = work.push()
    assert result.returncode == 0, result.stderr
    assert "1 objects valid" in result.stderr
    fingerprint = keys["alice"].fingerprint
    assert f"homeport: {sha[:12]} signed by alice@example.com (SSH key {fingerprint})" in (
        result.stderr
    )
    assert GitSource(repo).head() is not None
    assert GitSource(repo).repo.head() == sha


def test_an_unsigned_push_is_refused_naming_commit_author_and_fix(
    tmp_path: Path, allowed: Path
) -> None:
    repo, work = signed_repo(tmp_path, SignaturePolicy("tip", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    sha = work.commit("unsigned")
    result = work.push()
    assert result.returncode != 0
    assert "commit(s) not signed by an allowed key (signature policy tip)" in result.stderr
    assert (
        f"remote: {sha[:12]} (Test <test@example.com>): not signed; sign it with `git commit -S`"
        in result.stderr
    )
    assert GitSource(repo).head() is None  # nothing reached the branch


def test_a_push_signed_by_an_unknown_key_is_refused(
    tmp_path: Path, keys: dict[str, SshKey], allowed: Path
) -> None:
    repo, work = signed_repo(tmp_path, SignaturePolicy("tip", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    sha = ssh_commit(work, keys["mallory"])
    result = work.push()
    assert result.returncode != 0
    assert (
        f"{sha[:12]} (Test <test@example.com>): signed by unknown SSH key "
        f"{keys['mallory'].fingerprint}; add its owner's `principal public-key` line to {allowed}"
        in result.stderr
    )
    assert GitSource(repo).head() is None


def test_a_tampered_commit_is_refused_as_a_bad_signature(
    tmp_path: Path, keys: dict[str, SshKey], allowed: Path
) -> None:
    repo, work = signed_repo(tmp_path, SignaturePolicy("tip", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    signed = ssh_commit(work, keys["alice"], "the real message")
    forged = tamper(work, signed, "a message alice never signed")
    assert "gpgsig" in work.git("cat-file", "commit", forged).stdout  # the signature is kept
    work.git("reset", "-q", "--hard", forged)
    result = work.push()
    assert result.returncode != 0
    assert f"{forged[:12]} (Test <test@example.com>): bad signature" in result.stderr
    assert GitSource(repo).head() is None


def test_every_commit_refuses_a_partially_signed_range(
    tmp_path: Path, keys: dict[str, SshKey], allowed: Path
) -> None:
    repo, work = signed_repo(tmp_path, SignaturePolicy("every-commit", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    base = ssh_commit(work, keys["alice"], "base")
    assert work.push().returncode == 0
    work.write("b.yaml", machine("b"))
    unsigned = work.commit("unsigned in the middle")
    work.write("c.yaml", machine("c"))
    ssh_commit(work, keys["alice"], "signed tip")
    result = work.push()
    assert result.returncode != 0
    assert (
        "1 commit(s) not signed by an allowed key (signature policy every-commit)" in result.stderr
    )
    assert f"remote: {unsigned[:12]} (Test <test@example.com>): not signed" in result.stderr
    assert base[:12] not in result.stderr  # already on the branch: not judged again
    assert GitSource(repo).repo.head() == base


def test_tip_policy_judges_only_the_pushed_head(
    tmp_path: Path, keys: dict[str, SshKey], allowed: Path
) -> None:
    repo, work = signed_repo(tmp_path, SignaturePolicy("tip", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    work.commit("unsigned")
    work.write("b.yaml", machine("b"))
    tip = ssh_commit(work, keys["alice"], "signed on top")
    assert work.push().returncode == 0
    assert GitSource(repo).repo.head() == tip


def test_changing_the_allowed_signers_counts_from_the_next_push(
    tmp_path: Path, keys: dict[str, SshKey], allowed: Path
) -> None:
    _repo, work = signed_repo(tmp_path, SignaturePolicy("tip", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    ssh_commit(work, keys["mallory"])
    assert work.push().returncode != 0
    allowed.write_text(keys["alice"].allowed_line() + keys["mallory"].allowed_line())
    assert work.push().returncode == 0  # rotated in: accepted, no restart, no re-init
    allowed.write_text(keys["alice"].allowed_line())
    work.write("b.yaml", machine("b"))
    ssh_commit(work, keys["mallory"])
    assert work.push().returncode != 0  # rotated out: refused from the next push on


def test_a_missing_allowed_signers_file_refuses_every_push(
    tmp_path: Path, keys: dict[str, SshKey], allowed: Path
) -> None:
    _repo, work = signed_repo(tmp_path, SignaturePolicy("tip", allowed_signers=allowed))
    allowed.unlink()
    work.write("a.yaml", machine("a"))
    ssh_commit(work, keys["alice"])
    result = work.push()
    assert result.returncode != 0
    assert "signatures cannot be verified" in result.stderr
    assert "allowed signers file not found" in result.stderr


def test_policy_off_changes_nothing(tmp_path: Path, hermetic_git: Path) -> None:
    _repo, work = signed_repo(tmp_path, SignaturePolicy("off"))
    work.write("a.yaml", machine("a"))
    work.commit("unsigned")
    result = work.push()
    assert result.returncode == 0, result.stderr
    assert "signature" not in result.stderr
    assert "1 objects valid" in result.stderr


@pytest.fixture
def gpg_homes(hermetic_git: Path) -> Iterator[dict[str, Path]]:
    # Short homes under /tmp, not tmp_path: gpg-agent's sockets live in the home, and a
    # unix socket path is at most 107 bytes; tmp_path (pytest-of-root/pytest-1002/popen-gw1/
    # test_openpgp_…) made S.gpg-agent.browser one byte too long once pytest's run counter
    # reached four digits, and key import failed ("failed to start agent").
    with tempfile.TemporaryDirectory(prefix="hp-gpg-") as top:
        homes = {n: Path(top) / n for n in ("bob", "eve", "trusted")}
        try:
            yield homes
        finally:
            stop_gpg_agents(*homes.values())


def test_openpgp_signatures_against_a_trusted_keyring(
    tmp_path: Path, gpg_homes: dict[str, Path]
) -> None:
    bob = gpg_key(gpg_homes["bob"], "Bob <bob@example.com>")
    eve = gpg_key(gpg_homes["eve"], "Eve <eve@example.com>")
    keyring = trusted_keyring(gpg_homes["trusted"], bob)
    repo, work = signed_repo(tmp_path, SignaturePolicy("tip", gpg_home=keyring))
    work.write("a.yaml", machine("a"))
    sha = gpg_commit(work, eve)
    result = work.push()
    assert result.returncode != 0
    assert f"{sha[:12]} (Test <test@example.com>): signed by unknown OpenPGP key" in result.stderr
    assert f"gpg --homedir {keyring} --import KEY.asc" in result.stderr
    sha = gpg_commit(work, bob)
    result = work.push()
    assert result.returncode == 0, result.stderr
    assert GitSource(repo).repo.head() == sha
    forged = tamper(work, sha, "bob never signed this")
    work.git("reset", "-q", "--hard", forged)
    result = work.push(force=True)
    assert result.returncode != 0
    assert f"{forged[:12]} (Test <test@example.com>): bad signature" in result.stderr
    assert GitSource(repo).repo.head() == sha


def test_every_commit_judges_the_whole_history_when_since_is_gone(
    tmp_path: Path, keys: dict[str, SshKey], allowed: Path
) -> None:
    work = WorkClone(tmp_path / "unused.git", tmp_path / "work")
    first = work.commit("unsigned, long ago")
    tip = ssh_commit(work, keys["alice"])
    policy = SignaturePolicy("every-commit", allowed_signers=allowed)
    git_dir = work.path / ".git"
    assert verify_revision(git_dir, policy, tip, since=first).ok
    gone = verify_revision(git_dir, policy, tip, since="d" * 40)  # e.g. pruned after a force-push
    assert [c.sha for c in gone.failures] == [first]
