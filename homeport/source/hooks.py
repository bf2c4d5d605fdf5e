"""The bare repository's hooks and ``homeport init``.

``pre-receive`` validates the pushed tree of the tracked branch and rejects an invalid
push, showing the pusher every ``file:line: Kind/name: message``; ``post-receive`` pokes
the daemon through a datagram socket (best effort: the daemon also watches the refs and
polls, so a missing hook never means a missed change).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

from homeport.source.git import ZERO_SHA, GitRepository, run_git
from homeport.source.validate import validate_sources

_HOOK = """#!/bin/sh
# Installed by `homeport init`. {what}
exec {python} -m homeport.source.hook_entry {name} --branch {branch} --path {path}
"""


def init_repository(path: Path, *, branch: str = "main", subdir: str = ".") -> Path:
    """Create (or repair the hooks of) the control plane's bare repository."""
    if not (path / "HEAD").exists():
        path.mkdir(parents=True, exist_ok=True)
        run_git(path, "init", "--bare", f"--initial-branch={branch}", str(path))
    # Quoted for sh: an interpreter path or a folder with a space, `$` or `;` must reach
    # hook_entry as one argument, never as more words or a command.
    python = shlex.quote(sys.executable)
    hooks = {
        "pre-receive": "Rejects pushes whose manifests do not validate.",
        "post-receive": "Wakes the homeport daemon.",
    }
    for name, what in hooks.items():
        hook = path / "hooks" / name
        hook.write_text(
            _HOOK.format(
                what=what,
                python=python,
                name=name,
                branch=shlex.quote(branch),
                path=shlex.quote(subdir),
            )
        )
        hook.chmod(0o755)
    return path


def pre_receive(
    repo: Path, lines: Iterable[str], *, branch: str, subdir: str
) -> tuple[int, list[str]]:
    """Validate pushes to the tracked branch; (exit code, lines to show the pusher)."""
    messages: list[str] = []
    code = 0
    target = f"refs/heads/{branch}"
    git = GitRepository(repo, branch=branch, subdir=subdir)
    for line in lines:
        parts = line.split()
        if len(parts) != 3 or parts[2] != target:
            continue
        old, new, _ = parts
        if new == ZERO_SHA:
            messages.append(
                f"homeport: deleting {branch} will be held by the daemon until you run "
                "`homeport approve --delete-branch`; nothing is pruned meanwhile."
            )
            continue
        result = validate_sources(git.manifest_files(new))
        if result.errors:
            code = 1
            messages.append(f"homeport: push rejected, {len(result.errors)} problem(s):")
            messages.extend(error.render() for error in result.errors)
            continue
        messages.append(f"homeport: {len(result.objects)} objects valid at {new[:12]}")
        if old != ZERO_SHA and not git.is_ancestor(old, new):
            messages.append(
                f"homeport: this is a force-push; the daemon will hold {new[:12]} until "
                f"`homeport approve {new[:12]}`."
            )
    return code, messages
