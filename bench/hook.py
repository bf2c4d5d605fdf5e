"""Benchmark set-up: the pre-receive hook, alone and inside ``git push``, on one estate.

Builds, in DIR, the estate of ``bench/estate.py`` (1000 objects: 406 files) and the
scripts a process timer runs, one changed file per run:

- ``hook-next``: the hook alone (``python -m homeport.source.hook_entry pre-receive``),
  fed ``base new refs/heads/main`` where ``new`` changes one VM's memory; each run takes
  the next of RUNS such commits (a different blob each time, as a real push brings);
- ``push-next``: a whole ``git push`` of the next commit of a chain (each one VM's memory
  changed over the previous), from a clone to a bare repository whose hooks are
  homeport's: the pack, receive-pack, the pre-receive hook, the ref update;
- ``cold-hook-next`` and ``cold-push-next``: the same after deleting the repository's
  per-file validation cache (``homeport/`` in the bare repository), as a first push.

The hook runs the homeport that ``PYTHONPATH`` names, so one estate serves for the code
before and after a change (build one DIR per side when alternating them)::

    .venv/bin/python bench/hook.py DIR [--objects 1000] [--runs 24]
    PYTHONPATH=$PWD /usr/bin/time -v DIR/hook-next

With ``--serve`` it builds nothing and instead judges DIR's pushes as the running daemon
does (``push_validation.py``), until interrupted: its per-file results warmed on the
estate pushed first, as the daemon's are by adopting it. The scripts then measure the hook
asking it; without it the hook validates by itself. On exit it prints its own CPU time
per push judged, which the scripts' figures do not include::

    .venv/bin/python bench/hook.py DIR --serve &
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.estate import GIT_ENV, Shape, estate_files, unit_file, write_estate
from homeport.source.file_results import RememberedFiles
from homeport.source.git import GitRepository
from homeport.source.hooks import init_repository
from homeport.source.push_socket import VALIDATE_SOCKET
from homeport.source.push_validation import PushValidator, serve_pushes
from homeport.source.validate import validate_sources

CACHE_DIR = "homeport"


def git(work: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(work), *args], env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit_change(work: Path, shape: Shape, index: int, memory: int) -> str:
    """Commit one VM's file with another memory size; the new commit's sha."""
    name = f"vms/vm-{index:04d}.yaml"
    write_estate(work, {name: unit_file(index, shape, memory=memory)})
    git(work, "commit", "-q", "-am", f"vm-{index:04d}: {memory} MiB")
    return git(work, "rev-parse", "HEAD")


def clone_with_estate(repo: Path, work: Path, shape: Shape) -> str:
    """A clone of ``repo`` whose main holds the whole estate, pushed; its sha."""
    init_repository(repo)
    git(work.parent, "init", "-q", "--initial-branch=main", str(work))
    git(work, "remote", "add", "origin", str(repo))
    write_estate(work, estate_files(shape))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "the estate")
    git(work, "push", "-q", "origin", "main")
    return git(work, "rev-parse", "HEAD")


def prepare_hook(root: Path, shape: Shape, runs: int) -> None:
    """Commits that each change one file of the pushed estate, all already in the
    repository (on a branch the hook ignores), and one ``pre-receive`` input per run."""
    repo, work = root / "hook.git", root / "hook-work"
    base = clone_with_estate(repo, work, shape)
    updates = root / "hook-updates"
    updates.mkdir()
    for run in range(runs):
        git(work, "checkout", "-q", "--detach", base)
        sha = commit_change(work, shape, run % shape.vms, 1024 + run)
        git(work, "push", "-q", "origin", f"{sha}:refs/heads/bench-{run}")
        (updates / str(run)).write_text(f"{base} {sha} refs/heads/main\n")
    hook = (
        f"GIT_DIR={q(repo)} exec {q(Path(sys.executable))} -m homeport.source.hook_entry "
        f"pre-receive --branch main --path . <{q(updates)}/$n"
    )
    write_script(root / "hook-next", root / "hook-count", hook)
    write_script(root / "cold-hook-next", root / "hook-count", hook, cold=repo / CACHE_DIR)


def prepare_push(root: Path, shape: Shape, runs: int) -> None:
    """A chain of commits in a clone, each changing one file; each run pushes the next."""
    repo, work = root / "push.git", root / "push-work"
    clone_with_estate(repo, work, shape)
    for run in range(runs):
        sha = commit_change(work, shape, run % shape.vms, 2048 + run)
        git(work, "tag", f"bench-{run}", sha)
    push = f"exec git -C {q(work)} push -q origin refs/tags/bench-$n^{{commit}}:refs/heads/main"
    write_script(root / "push-next", root / "push-count", push)
    write_script(root / "cold-push-next", root / "push-count", push, cold=repo / CACHE_DIR)


def write_script(path: Path, counter: Path, command: str, *, cold: Path | None = None) -> None:
    """A shell script that runs ``command`` with ``$n`` the next run's number."""
    counter.write_text("0\n")
    lines = [
        "#!/bin/sh",
        f"n=$(cat {q(counter)})",
        f"echo $((n + 1)) >{q(counter)}",
        *([f"rm -rf {q(cold)}"] if cold else []),
        command,
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)


def q(path: Path) -> str:
    return shlex.quote(str(path))


async def serve(root: Path) -> None:
    """Judge the pushes to DIR's two repositories as the daemon does, until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    judged: list[float] = []

    def counted(validator: PushValidator) -> Callable[[bytes], bytes | None]:
        def answer(raw: bytes) -> bytes | None:
            started = time.thread_time()
            reply = validator.answer(raw)
            judged.append(time.thread_time() - started)
            return reply

        return answer

    async with asyncio.TaskGroup() as group:
        for name in ("hook.git", "push.git"):
            repo = root / name
            adopted = RememberedFiles()  # warmed as the daemon's adoption of main does
            validate_sources(GitRepository(repo).read_manifests("main"), reuse=adopted)
            answer = counted(PushValidator(repo, adopted=adopted))
            group.create_task(serve_pushes(repo / VALIDATE_SOCKET, answer, stop))
        warm = cpu_seconds()
        print(f"serving {root}: interrupt to stop", flush=True)
    if judged:
        ordered = sorted(judged)
        print(
            f"{len(judged)} pushes judged; CPU s each, the judging thread (min / median / max): "
            f"{ordered[0]:.3f} / {ordered[len(ordered) // 2]:.3f} / {ordered[-1]:.3f}; "
            f"the whole process with its git children, mean: "
            f"{(cpu_seconds() - warm) / len(judged):.3f}"
        )


def cpu_seconds() -> float:
    """This process's CPU time and its children's (the git processes it ran)."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=24, help="changed commits to push")
    parser.add_argument("--serve", action="store_true", help="judge DIR's pushes, as the daemon")
    args = parser.parse_args()
    root: Path = args.dir.resolve()
    if args.serve:
        asyncio.run(serve(root))
        return
    root.mkdir(parents=True)
    shape = Shape.of(args.objects)
    prepare_hook(root, shape, args.runs)
    prepare_push(root, shape, args.runs)
    print(f"{shape.describe()}: {len(estate_files(shape))} files; scripts in {root}")


if __name__ == "__main__":
    main()
