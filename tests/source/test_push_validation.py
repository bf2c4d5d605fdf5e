"""The pre-receive hook asking the daemon to judge a push, through real git pushes.

The daemon's side (``push_validation.serve_pushes`` with a ``PushValidator``) runs in the
test's event loop; pushes go through ``git push`` to a repository made by
``init_repository``, so the hook is the installed one, in its own process, with git's
quarantine. A push is judged by the daemon exactly as by the hook alone; no daemon, a
daemon that never answers or answers garbage, and the hook judges it itself; a request
naming objects outside the repository is refused.
"""

from __future__ import annotations

import asyncio
import socket
import stat
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from homeport.controller.clock import FakeClock
from homeport.controller.revisions import RevisionSync
from homeport.controller.store import Store
from homeport.datagrams import unix_address
from homeport.source.file_cache import DIRECTORY
from homeport.source.file_results import BorrowedFiles, FileKey, FileResult, RememberedFiles
from homeport.source.hooks import init_repository
from homeport.source.limits import SourceLimits
from homeport.source.push_socket import (
    TIMEOUT_VARIABLE,
    VALIDATE_SOCKET,
    NoAnswer,
    PushRequest,
    ask_daemon,
    decode_answer,
    quarantine_of,
)
from homeport.source.push_validation import PushValidator, serve_pushes
from homeport.source.signatures import SignaturePolicy
from homeport.source.sources import GitSource
from testkit import gitwork
from testkit.gitwork import WorkClone
from tests.signing import SshKey, allowed, hermetic_git, keys, ssh_commit
from tests.source.estates import machine
from tests.source.test_hook_cache import CHANGES, ESTATE, commit, count_parses

pytestmark = pytest.mark.integration
__all__ = ["allowed", "hermetic_git", "keys"]
INVALID = CHANGES["syntax"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repository(tmp_path / "estate.git")


@dataclass
class Served:
    """What the daemon's side answered, request by request (None: refused)."""

    replies: list[bytes | None] = field(default_factory=list)

    def codes(self) -> list[int | None]:
        return [decode_answer(r)[0] if r is not None else None for r in self.replies]


@asynccontextmanager
async def serving(repo: Path, adopted: RememberedFiles | None = None) -> AsyncIterator[Served]:
    validator = PushValidator(repo, adopted=adopted if adopted is not None else RememberedFiles())
    served = Served()

    def answer(raw: bytes) -> bytes | None:
        reply = validator.answer(raw)
        served.replies.append(reply)
        return reply

    stop = asyncio.Event()
    server = asyncio.create_task(serve_pushes(repo / VALIDATE_SOCKET, answer, stop))
    await asyncio.sleep(0)  # one step: the task binds before its first wait
    assert (repo / VALIDATE_SOCKET).exists()
    try:
        yield served
    finally:
        stop.set()
        await server


def push(work: WorkClone, sha: str, remote: str = "origin") -> tuple[int, str]:
    done = work.git("push", "-q", "--force", remote, f"{sha}:refs/heads/main", check=False)
    return done.returncode, done.stderr


def remote_lines(stderr: str) -> list[str]:
    """What the hook said, as the pusher sees it."""
    return [line.rstrip() for line in stderr.splitlines() if line.startswith("remote: ")]


async def test_the_daemon_judges_pushes_exactly_as_the_hook_does(
    repo: Path, tmp_path: Path
) -> None:
    work = WorkClone(repo, tmp_path / "work")
    base = commit(work, ESTATE)
    changed = {name: commit(work, change, base) for name, change in CHANGES.items()}
    # The estate; a change accepted, then force-pushed back; three changes refused.
    order = [base, changed["memory"], base, changed["syntax"], changed["clash"]]
    order.append(changed["secret"])

    async def judged(remote: str) -> list[tuple[int, list[str]]]:
        pushed = [await asyncio.to_thread(push, work, sha, remote) for sha in order]
        return [(code, remote_lines(stderr)) for code, stderr in pushed]

    async with serving(repo) as served:
        by_daemon = await judged("origin")
    assert served.codes() == [0, 0, 0, 1, 1, 1]  # every push judged there
    assert not (repo / DIRECTORY).exists()  # the hook never validated, nor wrote its cache
    # The same pushes to a repository without a daemon: its hook judges them itself.
    alone = init_repository(tmp_path / "alone.git")
    work.git("remote", "add", "alone", str(alone))
    by_hook = await judged("alone")
    assert (alone / DIRECTORY).exists()
    assert by_daemon == by_hook  # exit codes and every line, file:line messages included
    assert "remote: homeport: push rejected, 2 problem(s):" in by_daemon[3][1]
    assert any(
        line.startswith("remote: vms/b.yaml:3: VM/vm-b: invalid YAML") for line in by_daemon[3][1]
    )
    assert any("holds a GitHub token" in line for line in by_daemon[5][1])


async def test_the_daemon_reuses_what_it_adopted_and_leaves_it_as_it_was(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = WorkClone(repo, tmp_path / "work")
    base = commit(work, ESTATE)
    assert work.push().returncode == 0
    store = Store.open(tmp_path / "state.db")
    sync = RevisionSync(
        source=GitSource(repo), store=store, clock=FakeClock(), max_prune_fraction=0.5
    )
    adopted = await sync.sync()
    assert adopted is not None and adopted.decision.outcome == "adopt"
    tree = GitSource(repo).files(base)
    keys = [FileKey.of(name, raw, SourceLimits()) for name, raw in tree.files]
    before = sync.file_results.recall(keys)
    assert len(before) == len(ESTATE)
    parsed = count_parses(monkeypatch)
    async with serving(repo, sync.file_results) as served:
        refused = await asyncio.to_thread(push, work, commit(work, INVALID, base))
        accepted = await asyncio.to_thread(push, work, commit(work, CHANGES["memory"], base))
    assert served.codes() == [1, 0]
    assert refused[0] == 1 and accepted[0] == 0
    assert parsed == ["vms/b.yaml", "vms/a.yaml"]  # only what each push changed
    assert sync.file_results.recall(keys) == before  # what adoption relies on, unchanged
    assert (sync.adopted() or pytest.fail("nothing adopted")).sha == base
    store.close()


def test_borrowed_results_are_read_and_never_changed() -> None:
    limits = SourceLimits()
    old, new = FileKey.of("a.yaml", b"a", limits), FileKey.of("b.yaml", b"b", limits)
    result = FileResult((), (), ())
    adopted = RememberedFiles()
    adopted.keep({old: result})
    borrowed = BorrowedFiles(adopted)
    borrowed.keep({old: result, new: result})
    assert adopted.recall([old, new]) == {old: result}
    assert borrowed.recall([old, new]) == {old: result, new: result}
    assert borrowed.own.recall([old]) == {}  # what the adopted store holds is not copied


def test_without_a_daemon_the_hook_judges_itself(repo: Path, tmp_path: Path) -> None:
    work = WorkClone(repo, tmp_path / "work")
    base = commit(work, ESTATE)
    assert work.push().returncode == 0
    # A stale socket: its daemon is gone (nothing listens: connecting is refused).
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
        with unix_address(repo / VALIDATE_SOCKET) as address:
            gone.bind(address)
    for _ in ("stale socket", "no socket"):
        code, stderr = push(work, commit(work, INVALID, base))
        assert code == 1
        assert "remote: homeport: push rejected, 2 problem(s):" in stderr
        assert "the daemon gave no answer" not in stderr  # no daemon is the usual case
        (repo / VALIDATE_SOCKET).unlink(missing_ok=True)


def test_a_daemon_that_never_answers_is_waited_for_then_the_hook_judges_itself(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = WorkClone(repo, tmp_path / "work")
    base = commit(work, ESTATE)
    assert work.push().returncode == 0
    monkeypatch.setitem(gitwork.ENV, TIMEOUT_VARIABLE, "0.5")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as hung:
        with unix_address(repo / VALIDATE_SOCKET) as address:
            hung.bind(address)
        hung.listen(4)  # the kernel takes the connection; nobody ever reads or answers
        code, stderr = push(work, commit(work, INVALID, base))
    assert code == 1
    assert "the daemon gave no answer (no whole answer in time (0 bytes))" in stderr
    assert "remote: homeport: push rejected, 2 problem(s):" in stderr


def answering_once(path: Path, payload: bytes) -> tuple[threading.Thread, threading.Event]:
    """A server at ``path`` that reads one request and answers ``payload``."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with unix_address(path) as address:
        listener.bind(address)
    listener.listen(1)
    listener.settimeout(60)
    answered = threading.Event()

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                while conn.recv(65536):
                    pass
                conn.sendall(payload)
                answered.set()

    thread = threading.Thread(target=serve)
    thread.start()
    return thread, answered


GARBAGE = {
    "truncated acceptance": b'{"code": 0, "messages": ["homeport: 7 objects val',
    "true is not 0 or 1": b'{"code": true, "messages": []}',
    "no messages": b'{"code": 0}',
    "nothing": b"",
    "not json": b"accepted",
}


@pytest.mark.parametrize("payload", GARBAGE.values(), ids=GARBAGE.keys())
def test_a_garbled_answer_is_never_an_acceptance(
    repo: Path, tmp_path: Path, payload: bytes
) -> None:
    work = WorkClone(repo, tmp_path / "work")
    base = commit(work, ESTATE)
    assert work.push().returncode == 0
    server, answered = answering_once(repo / VALIDATE_SOCKET, payload)
    code, stderr = push(work, commit(work, INVALID, base))
    server.join(timeout=60)
    assert answered.is_set()
    assert code == 1
    assert "the daemon gave no answer" in stderr
    assert "remote: homeport: push rejected, 2 problem(s):" in stderr


@pytest.mark.parametrize(
    "payload",
    [
        b'{"code": 0.0, "messages": []}',
        b'{"code": "0", "messages": []}',
        b'{"code": 2, "messages": []}',
        b'{"code": -1, "messages": []}',
        b'{"code": 0, "messages": "ok"}',
        b'{"code": 0, "messages": [1]}',
        b'{"code": 0, "messages": [], "more": 1}',
        b"[0, []]",
        b'{"code": 0, "messages": []} {"code": 1, "messages": []}',
    ],
)
def test_only_a_whole_answer_with_code_0_or_1_is_read(payload: bytes) -> None:
    with pytest.raises(ValueError):
        decode_answer(payload)


def test_answers_read_back_as_sent() -> None:
    assert decode_answer(b'{"code": 1, "messages": ["a:1: VM/x: no"]}') == (1, ["a:1: VM/x: no"])


async def test_signatures_are_enforced_by_the_daemon(
    tmp_path: Path, keys: dict[str, SshKey], allowed: Path
) -> None:
    repo = init_repository(
        tmp_path / "estate.git", signatures=SignaturePolicy("tip", allowed_signers=allowed)
    )
    work = WorkClone(repo, tmp_path / "work")
    work.write("a.yaml", machine("a"))
    unsigned = work.commit("unsigned")
    async with serving(repo) as served:
        refused = await asyncio.to_thread(push, work, unsigned)
        signed = ssh_commit(work, keys["alice"])
        accepted = await asyncio.to_thread(push, work, signed)
    assert served.codes() == [1, 0]
    assert refused[0] == 1
    assert (
        f"remote: {unsigned[:12]} (Test <test@example.com>): not signed; sign it with "
        "`git commit -S`" in refused[1]
    )
    assert accepted[0] == 0
    assert f"{signed[:12]} signed by alice@example.com" in accepted[1]
    assert GitSource(repo).repo.head() == signed


async def test_objects_outside_the_repository_are_refused(repo: Path, tmp_path: Path) -> None:
    work = WorkClone(repo, tmp_path / "work")
    sha = commit(work, ESTATE)
    assert work.push().returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / "objects" / "link-out").symlink_to(elsewhere)
    objects = str(repo / "objects")
    update = [f"{'0' * 40} {sha} refs/heads/main"]
    requests = {
        "outside": {"GIT_OBJECT_DIRECTORY": str(elsewhere)},
        "relative": {"GIT_OBJECT_DIRECTORY": "objects"},
        "dot-dot": {"GIT_QUARANTINE_PATH": f"{objects}/../.."},
        "a link out": {"GIT_OBJECT_DIRECTORY": f"{objects}/link-out"},
        "one alternate out": {"GIT_ALTERNATE_OBJECT_DIRECTORIES": f"{objects}:{elsewhere}"},
        "another variable": {"GIT_DIR": objects},
    }
    async with serving(repo) as served:
        for name, quarantine in requests.items():
            request = PushRequest(update, "main", ".", quarantine)
            with pytest.raises(NoAnswer) as refused:
                await asyncio.to_thread(ask_daemon, repo, request, timeout=30)
            assert refused.value.listening, name
        inside = PushRequest(update, "main", ".", {"GIT_ALTERNATE_OBJECT_DIRECTORIES": objects})
        code, messages = await asyncio.to_thread(ask_daemon, repo, inside, timeout=30)
    assert (code, messages) == (0, [f"homeport: 7 objects valid at {sha[:12]}"])
    assert served.replies[:-1] == [None] * len(requests)


async def test_the_socket_is_private_replaces_a_stale_one_and_goes_with_the_daemon(
    repo: Path,
) -> None:
    path = repo / VALIDATE_SOCKET
    path.write_text("stale")
    async with serving(repo):
        assert stat.S_ISSOCK(path.lstat().st_mode)
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600
        assert [p.name for p in repo.iterdir() if p.name.startswith(".homeport")] == []
    assert not path.exists()


async def test_a_request_over_the_limit_gets_no_answer(repo: Path) -> None:
    huge = PushRequest(["x" * 1024] * 1100, "main", ".", {})
    async with serving(repo) as served:
        with pytest.raises(NoAnswer) as refused:
            await asyncio.to_thread(ask_daemon, repo, huge, timeout=30)
    assert refused.value.listening
    assert served.replies == []  # refused before validation


def test_the_hook_sends_git_s_quarantine_and_nothing_else() -> None:
    quarantine = {
        "GIT_OBJECT_DIRECTORY": "/r/objects/tmp_objdir-incoming-x",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": "/r/objects",
        "GIT_QUARANTINE_PATH": "/r/objects/tmp_objdir-incoming-x",
    }
    assert quarantine_of({**quarantine, "GIT_DIR": "/r", "HOME": "/home/git"}) == quarantine
