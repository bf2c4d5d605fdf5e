"""The daemon judges signatures again at adoption (defence in depth), with real git and keys.

Revisions here reach the branch without the pre-receive hook's policy — written by hand
with ``git update-ref``, or brought by the HA mirror from another plane — exactly the
paths the hook cannot guard.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeport.controller.adoption import UNVERIFIED_SIGNATURE
from homeport.controller.approvals import NotHeld, approve
from homeport.controller.clock import FakeClock
from homeport.controller.config import SignaturesSettings
from homeport.controller.daemon import Daemon
from homeport.controller.revisions import RevisionSync, request_reverify
from homeport.controller.signing import SignatureGate
from homeport.controller.source_keys import ADOPTED, APPROVALS, HELD
from homeport.controller.store import Store
from homeport.services.ha.revision_follow import RevisionFollower, RevisionUnavailable
from homeport.services.notify.messages import render
from homeport.services.notify.triggers import from_event
from homeport.source.git import run_git
from homeport.source.hooks import init_repository
from homeport.source.mirror import GitMirror
from homeport.source.signatures import SignaturePolicy, read_repository_policy
from homeport.source.sources import GitSource
from testkit.gitwork import WorkClone, machine
from tests.controller.fakes import FakeReconciler, FakeWorld
from tests.controller.test_daemon import reader, running, settings_for, until
from tests.signing import SshKey, allowed, hermetic_git, keys, ssh_commit, tamper

pytestmark = pytest.mark.integration
__all__ = ["allowed", "hermetic_git", "keys"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    # The repository itself enforces nothing: what reaches the branch is the daemon's to judge.
    return init_repository(tmp_path / "estate.git")


@pytest.fixture
def work(repo: Path, tmp_path: Path, hermetic_git: Path) -> WorkClone:
    return WorkClone(repo, tmp_path / "work")


def syncer(repo: Path, store: Store, policy: SignaturePolicy) -> RevisionSync:
    return RevisionSync(
        source=GitSource(repo),
        store=store,
        clock=FakeClock(),
        max_prune_fraction=1.0,
        signatures=SignatureGate(repo, policy),
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "state.db")


def write_ref_by_hand(repo: Path, work: WorkClone, sha: str) -> None:
    """What someone with shell access on the control plane can do: no hook runs."""
    run_git(repo, "fetch", "--quiet", str(work.path), f"{sha}:refs/incoming")
    run_git(repo, "update-ref", "refs/heads/main", sha)


async def test_a_signed_revision_is_adopted_and_records_its_signer(
    repo: Path, work: WorkClone, store: Store, keys: dict[str, SshKey], allowed: Path
) -> None:
    sync = syncer(repo, store, SignaturePolicy("tip", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    sha = ssh_commit(work, keys["alice"])
    assert work.push().returncode == 0
    result = await sync.sync()
    assert result is not None
    assert result.decision.outcome == "adopt"
    assert "signed by alice@example.com (SSH key " in result.decision.message
    signature = store.source_state.get(ADOPTED)["signature"]
    assert signature["sha"] == sha
    assert signature["signer"] == "alice@example.com"
    assert signature["key"] == keys["alice"].fingerprint
    assert signature["format"] == "ssh"
    assert signature["verified"] is True


@pytest.mark.parametrize("how", ["unsigned", "unknown-key", "tampered"])
async def test_a_bad_revision_written_by_hand_is_held_never_adopted_never_prunes(
    repo: Path,
    work: WorkClone,
    store: Store,
    keys: dict[str, SshKey],
    allowed: Path,
    how: str,
) -> None:
    sync = syncer(repo, store, SignaturePolicy("tip", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    work.write("b.yaml", machine("b"))
    good = ssh_commit(work, keys["alice"])
    work.push()
    await sync.sync()
    work.remove("b.yaml")  # the bad revision would prune Machine/b
    if how == "unsigned":
        bad = work.commit("unsigned")
    elif how == "unknown-key":
        bad = ssh_commit(work, keys["mallory"])
    else:
        bad = tamper(work, ssh_commit(work, keys["alice"], "signed"), "rewritten after signing")
    write_ref_by_hand(repo, work, bad)
    result = await sync.sync()
    assert result is not None
    assert (result.decision.outcome, result.decision.reason) == ("hold", UNVERIFIED_SIGNATURE)
    assert result.decision.prunes == frozenset()
    assert bad[:12] in result.decision.message
    expected = {
        "unsigned": "not signed; sign it with `git commit -S`",
        "unknown-key": f"signed by unknown SSH key {keys['mallory'].fingerprint}",
        "tampered": "bad signature",
    }[how]
    assert expected in result.decision.message
    assert store.source_state.get(ADOPTED)["sha"] == good
    assert store.source_state.get(HELD)["reason"] == UNVERIFIED_SIGNATURE
    b = store.objects.get(("Machine", "b"))
    assert b is not None and not b.deleting  # nothing pruned
    events = store.events.for_object("Revision", bad[:12])
    assert [(e.reason, e.type) for e in events] == [(UNVERIFIED_SIGNATURE, "Warning")]
    assert bad[:12] in events[0].message
    trigger = from_event(events[0])  # notified as a stalled source
    assert trigger is not None
    assert render(trigger).title == f"Revision/{bad[:12]} stalled (UnverifiedSignature)"
    # `homeport approve` refuses it, and an approval written to the store anyway does not
    # release it.
    with pytest.raises(NotHeld, match="signature policy"):
        approve(store, bad, by="tester", now="2026-01-01T00:00:00+00:00")
    store.source_state.set(APPROVALS, [bad])
    result = await sync.sync()
    assert result is not None
    assert result.decision.reason == UNVERIFIED_SIGNATURE
    assert store.source_state.get(ADOPTED)["sha"] == good


async def test_every_commit_holds_a_partially_signed_range_at_adoption(
    repo: Path, work: WorkClone, store: Store, keys: dict[str, SshKey], allowed: Path
) -> None:
    sync = syncer(repo, store, SignaturePolicy("every-commit", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    ssh_commit(work, keys["alice"])
    work.push()
    await sync.sync()
    work.write("b.yaml", machine("b"))
    unsigned = work.commit("unsigned in the middle")
    work.write("c.yaml", machine("c"))
    tip = ssh_commit(work, keys["alice"])
    write_ref_by_hand(repo, work, tip)
    result = await sync.sync()
    assert result is not None
    assert result.decision.reason == UNVERIFIED_SIGNATURE
    assert f"{unsigned[:12]} (Test <test@example.com>): not signed" in result.decision.message


async def test_a_bad_revision_arriving_through_the_mirror_is_held(
    tmp_path: Path, store: Store, keys: dict[str, SshKey], allowed: Path, hermetic_git: Path
) -> None:
    cp1, cp2 = (init_repository(tmp_path / n / "estate.git") for n in ("cp1", "cp2"))
    mirror = GitMirror(cp1, branch="main", peers={"cp2": str(cp2)})
    mirror.configure()
    sync = syncer(cp1, store, SignaturePolicy("tip", allowed_signers=allowed))
    work = WorkClone(cp1, tmp_path / "work")
    work.write("a.yaml", machine("a"))
    good = ssh_commit(work, keys["alice"])
    assert work.push().returncode == 0
    await sync.sync()
    # cp2 gets an unsigned commit by hand (its hooks never ran), cp1 catches up from it.
    work.write("b.yaml", machine("b"))
    bad = work.commit("unsigned, on the other plane")
    write_ref_by_hand(cp2, work, bad)
    caught = mirror.catch_up(adopted=good)
    assert caught.moved_to == bad  # the mirror moves the branch: adoption is the gate
    result = await sync.sync()
    assert result is not None
    assert (result.decision.outcome, result.decision.reason) == ("hold", UNVERIFIED_SIGNATURE)
    assert store.source_state.get(ADOPTED)["sha"] == good
    assert store.objects.get(("Machine", "b")) is None
    # A plane following the shared record never applies it either.
    follower = RevisionFollower(
        store=Store.open(tmp_path / "follower.db"),
        source=GitSource(cp1),
        mirror=mirror,
        clock=FakeClock(),
        leading=lambda: False,
        signatures=SignatureGate(cp1, SignaturePolicy("tip", allowed_signers=allowed)),
    )
    with pytest.raises(RevisionUnavailable, match=f"commit {bad[:12]} fails this plane's"):
        await follower.apply({"sha": bad, "keys": [["Machine", "a"], ["Machine", "b"]]})
    assert follower.store.objects.all() == []
    assert await follower.apply({"sha": good, "keys": [["Machine", "a"]]}) is True


async def test_rotated_keys_are_not_rejudged_until_reverify(
    repo: Path, work: WorkClone, store: Store, keys: dict[str, SshKey], allowed: Path
) -> None:
    allowed.write_text(keys["alice"].allowed_line() + keys["mallory"].allowed_line())
    sync = syncer(repo, store, SignaturePolicy("tip", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    sha = ssh_commit(work, keys["mallory"])
    work.push()
    assert (await sync.sync()).decision.outcome == "adopt"  # type: ignore[union-attr]
    allowed.write_text(keys["alice"].allowed_line())  # mallory's key is withdrawn
    assert await sync.sync() is None  # the running revision is not judged again by itself
    request_reverify(store, "2026-01-01T00:00:00+00:00")
    await sync.sync()
    signature = store.source_state.get(ADOPTED)["signature"]
    assert signature["verified"] is False
    assert "signed by unknown SSH key" in signature["problem"]
    assert store.source_state.get(ADOPTED)["sha"] == sha  # still running, nothing rolled back
    assert store.objects.get(("Machine", "a")) is not None
    events = store.events.for_object("Revision", sha[:12])
    assert events[-1].reason == UNVERIFIED_SIGNATURE
    assert "keeps running" in events[-1].message
    assert await sync.sync() is None  # asked once, judged once


async def test_a_held_revision_is_adopted_after_its_key_is_added_and_reverify(
    repo: Path, work: WorkClone, store: Store, keys: dict[str, SshKey], allowed: Path
) -> None:
    sync = syncer(repo, store, SignaturePolicy("tip", allowed_signers=allowed))
    work.write("a.yaml", machine("a"))
    sha = ssh_commit(work, keys["mallory"])
    work.push()
    assert (await sync.sync()).decision.reason == UNVERIFIED_SIGNATURE  # type: ignore[union-attr]
    allowed.write_text(keys["alice"].allowed_line() + keys["mallory"].allowed_line())
    request_reverify(store, "2026-01-01T00:00:00+00:00")
    result = await sync.sync()
    assert result is not None
    assert result.decision.outcome == "adopt"
    assert store.source_state.get(ADOPTED)["signature"]["signer"] == "mallory@example.com"
    assert store.source_state.get(ADOPTED)["sha"] == sha


async def test_policy_off_adopts_unsigned_revisions_as_before(
    repo: Path, work: WorkClone, store: Store, hermetic_git: Path
) -> None:
    sync = syncer(repo, store, SignaturePolicy("off"))
    work.write("a.yaml", machine("a"))
    work.commit("unsigned")
    work.push()
    result = await sync.sync()
    assert result is not None
    assert result.decision.outcome == "adopt"
    assert "signed" not in result.decision.message
    assert "signature" not in store.source_state.get(ADOPTED)
    request_reverify(store, "2026-01-01T00:00:00+00:00")  # nothing to judge, nothing recorded
    await sync.sync()
    assert "signature" not in store.source_state.get(ADOPTED)
    assert store.events.recent() == []


async def test_the_stricter_of_config_and_repository_applies(
    repo: Path, work: WorkClone, store: Store, allowed: Path
) -> None:
    # The daemon's config says off, the repository says tip: unsigned is held.
    init_repository(repo, signatures=SignaturePolicy("tip", allowed_signers=allowed))
    sync = syncer(repo, store, SignaturePolicy("off"))
    work.write("a.yaml", machine("a"))
    bad = work.commit("unsigned")
    write_ref_by_hand(repo, work, bad)
    result = await sync.sync()
    assert result is not None
    assert result.decision.reason == UNVERIFIED_SIGNATURE
    # And the daemon's policy is published to the repository for the hook, never weakened.
    SignatureGate(repo, SignaturePolicy("every-commit", allowed_signers=allowed)).publish()
    assert read_repository_policy(repo).policy == "every-commit"
    SignatureGate(repo, SignaturePolicy("off")).publish()
    assert read_repository_policy(repo).policy == "every-commit"


async def test_an_unusable_policy_holds_everything(
    repo: Path, work: WorkClone, store: Store, keys: dict[str, SshKey], allowed: Path
) -> None:
    sync = syncer(repo, store, SignaturePolicy("tip", allowed_signers=allowed))
    allowed.unlink()
    work.write("a.yaml", machine("a"))
    ssh_commit(work, keys["alice"])
    work.push()
    result = await sync.sync()
    assert result is not None
    assert result.decision.reason == UNVERIFIED_SIGNATURE
    assert "signatures cannot be verified" in result.decision.message
    assert store.source_state.get(ADOPTED) is None


async def test_the_daemon_publishes_its_policy_and_holds_what_fails_it(
    tmp_path: Path, repo: Path, work: WorkClone, keys: dict[str, SshKey], allowed: Path
) -> None:
    settings = settings_for(tmp_path, repo).model_copy(
        update={"signatures": SignaturesSettings(policy="tip", allowed_signers=allowed)}
    )
    world = FakeWorld()
    daemon = Daemon(settings=settings, reconcilers={"Machine": FakeReconciler("Machine", world)})
    async with running(daemon):
        # At start the daemon's policy reaches the repository: the hook now enforces it.
        await until(lambda: read_repository_policy(repo).policy == "tip")
        store = reader(settings.store.path)
        work.write("a.yaml", machine("a"))
        work.commit("unsigned")
        # In a thread: the hook asks this loop's daemon to judge the push.
        assert (await asyncio.to_thread(work.push)).returncode != 0
        ssh_commit(work, keys["alice"])
        assert (await asyncio.to_thread(work.push)).returncode == 0
        await until(lambda: set(world.things) == {("Machine", "a")})
        # Written by hand, bypassing the hook: held, never reconciled.
        work.write("b.yaml", machine("b"))
        bad = ssh_commit(work, keys["mallory"])
        write_ref_by_hand(repo, work, bad)
        await until(lambda: (store.source_state.get(HELD) or {}).get("sha") == bad)
        assert store.source_state.get(ADOPTED)["signature"]["signer"] == "alice@example.com"
        assert ("Machine", "b") not in world.things
        assert store.objects.get(("Machine", "b")) is None
        store.close()
