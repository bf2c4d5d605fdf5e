"""Entry point of the git hooks: ``python -m homeport.source.hook_entry pre-receive ...``.

Kept apart from the CLI so a push only pays for importing validation, not the daemon;
the post-receive hook imports nothing of homeport at all.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

POKE_SOCKET = "homeport.sock"


def poke_daemon(repo: Path) -> None:
    """post-receive: wake the daemon; silently nothing when it is not listening."""
    address = repo / POKE_SOCKET
    if address.exists():
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.setblocking(False)
                sock.sendto(b"poke", str(address))
            except OSError:
                pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="homeport-hook")
    parser.add_argument("hook", choices=["pre-receive", "post-receive"])
    parser.add_argument("--branch", default="main")
    parser.add_argument("--path", default=".")
    args = parser.parse_args(argv)
    # Git runs hooks inside the repository; GIT_DIR may be relative.
    repo = Path(os.environ.get("GIT_DIR", ".")).resolve()
    if args.hook == "pre-receive":
        # Imported here: the post-receive hook must stay cheap.
        from homeport.source.hooks import pre_receive

        code, messages = pre_receive(
            repo, sys.stdin.read().splitlines(), branch=args.branch, subdir=args.path
        )
        for message in messages:
            print(message, file=sys.stderr)
        return code
    poke_daemon(repo)
    return 0


if __name__ == "__main__":
    sys.exit(main())
