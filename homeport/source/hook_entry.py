"""Entry point of the git hooks: ``python -m homeport.source.hook_entry pre-receive ...``.

Kept apart from the CLI so a push only pays for importing validation, not the daemon;
and the pre-receive hook first asks the running daemon to judge the push
(``push_socket.py``), importing validation only when no daemon answers. The post-receive
hook imports only ``homeport.datagrams`` (to wake the daemon). With
peers (other control planes, ``source/mirror.py``) it also starts one detached
``mirror-push`` per peer and returns at once: the pusher never waits for the other planes.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
from pathlib import Path

from homeport.datagrams import send_datagram
from homeport.source.push_socket import (
    NoAnswer,
    PushRequest,
    ask_daemon,
    quarantine_of,
    timeout_of,
)

POKE_SOCKET = "homeport.sock"
PEER_REMOTES = r"^remote\.homeport-peer-.*\.url$"
ZERO = "0" * 40


def poke_daemon(repo: Path) -> None:
    """post-receive: wake the daemon; silently nothing when it is not listening."""
    address = repo / POKE_SOCKET
    if address.exists():
        send_datagram(address, b"poke")


def peer_remotes(repo: Path) -> list[str]:
    """The remotes ``GitMirror.configure`` set up for the other control planes."""
    found = subprocess.run(
        ["git", "--git-dir", str(repo), "config", "--get-regexp", PEER_REMOTES],
        capture_output=True,
        text=True,
        check=False,
    )
    return [
        line.split()[0].split(".", 1)[1].rsplit(".", 1)[0]
        for line in found.stdout.split("\n")
        if line
    ]


def mirror_to_peers(repo: Path, updates: list[str]) -> list[str]:
    """post-receive: hand ``old new ref`` updates to a detached push per peer."""
    lines = [u for u in updates if len(u.split()) == 3 and u.split()[2].startswith("refs/heads/")]
    if not lines:
        return []
    remotes = peer_remotes(repo)
    for remote in remotes:
        # -P: run in the repository, whose files must never stand in for homeport's modules
        args = [sys.executable, "-P", "-m", "homeport.source.hook_entry", "mirror-push", remote]
        subprocess.Popen(
            [*args, *(part for line in lines for part in line.split())],
            cwd=repo,
            env={**os.environ, "GIT_DIR": str(repo)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    return remotes


def mirror_push(repo: Path, remote: str, updates: list[str]) -> int:
    """Push each (old, new, ref) to ``remote``: as received if the peer still has ``old``
    (force-pushes and deletions too), else only as a fast-forward; what fails is left to
    the daemons' periodic catch-up."""
    failed = 0
    for old, new, ref in zip(updates[0::3], updates[1::3], updates[2::3], strict=True):
        refspec = f"{'' if new == ZERO else new}:{ref}"
        lease = f"--force-with-lease={ref}:{'' if old == ZERO else old}"
        if _push(repo, lease, remote, refspec) == 0:
            continue
        # The peer lagged or moved on: only a fast-forward, never a blind delete or rewrite.
        failed += new == ZERO or _push(repo, remote, refspec) != 0
    return 1 if failed else 0


def _push(repo: Path, *args: str) -> int:
    command = ["git", "--git-dir", str(repo), "push", "--quiet", *args]
    return subprocess.run(command, capture_output=True, check=False, timeout=120).returncode


def run_pre_receive(repo: Path, *, branch: str, subdir: str) -> int:
    lines = sys.stdin.read().splitlines()
    request = PushRequest(lines, branch, subdir, quarantine_of(os.environ))
    try:
        code, messages = ask_daemon(repo, request, timeout=timeout_of(os.environ))
    except NoAnswer as exc:
        if exc.listening:
            print(f"homeport: the daemon gave no answer ({exc}); validating here", file=sys.stderr)
        code, messages = validate_here(repo, lines, branch=branch, subdir=subdir)
    for message in messages:
        print(message, file=sys.stderr)
    return code


def validate_here(
    repo: Path, lines: list[str], *, branch: str, subdir: str
) -> tuple[int, list[str]]:
    """The push judged in this process, when no daemon answered: the models' import is
    most of the hook's time, paid only here."""
    # The cyclic collector's passes over the models' classes cost a warm push 0.03-0.05 s:
    # off while importing (a burst of objects that all live until exit), then those
    # objects are frozen out of its way. Imported here: the post-receive hook stays cheap.
    gc.disable()
    try:
        from homeport.source.hooks import pre_receive

        gc.freeze()
    finally:
        gc.enable()
    return pre_receive(repo, lines, branch=branch, subdir=subdir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="homeport-hook")
    parser.add_argument("hook", choices=["pre-receive", "post-receive", "mirror-push"])
    parser.add_argument("--branch", default="main")
    parser.add_argument("--path", default=".")
    parser.add_argument("rest", nargs="*", help="mirror-push: REMOTE then OLD NEW REF ...")
    args = parser.parse_args(argv)
    # Git runs hooks inside the repository; GIT_DIR may be relative.
    repo = Path(os.environ.get("GIT_DIR", ".")).resolve()
    if args.hook == "mirror-push":
        return mirror_push(repo, args.rest[0], args.rest[1:])
    if args.hook == "pre-receive":
        return run_pre_receive(repo, branch=args.branch, subdir=args.path)
    poke_daemon(repo)
    mirror_to_peers(repo, sys.stdin.read().splitlines())
    return 0


if __name__ == "__main__":
    sys.exit(main())
