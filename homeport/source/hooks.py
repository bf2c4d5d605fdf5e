"""The bare repository's hooks and ``homeport init``.

``pre-receive`` validates the pushed tree of the tracked branch and rejects an invalid
push, showing the pusher every ``file:line: Kind/name: message``, and with a signature
policy recorded in the repository (``signatures.py``) refuses commits not signed by a
trusted key, one line per commit. Files the push did not change are not parsed again: their
per-file results come from ``file_cache.py`` in the repository, saved there for every push
the hook accepts. When the daemon runs, the hook asks it to judge the push instead
(``push_validation.py``: its models built, its per-file results warm), through the same
``judge_push``. ``post-receive`` pokes
the daemon through a datagram socket (best effort: the daemon also watches the refs and
polls, so a missing hook never means a missed change).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from homeport.source.file_cache import CachedFiles
from homeport.source.file_results import FileResults
from homeport.source.git import ZERO_SHA, GitError, GitRepository, run_git
from homeport.source.signatures import (
    SignatureConfigError,
    SignaturePolicy,
    read_repository_policy,
    verify_revision,
    write_repository_policy,
)
from homeport.source.validate import validate_sources

_HOOK = """#!/bin/sh
# Installed by `homeport init`. {what}
exec {python} -P -m homeport.source.hook_entry {name} --branch {branch} --path {path}
"""


def init_repository(
    path: Path,
    *,
    branch: str = "main",
    subdir: str = ".",
    signatures: SignaturePolicy | None = None,
) -> Path:
    """Create (or repair the hooks of) the control plane's bare repository; with
    ``signatures``, record the signature policy the pre-receive hook enforces."""
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
    if signatures is not None:
        write_repository_policy(path, signatures)
    return path


def pre_receive(
    repo: Path, lines: Iterable[str], *, branch: str, subdir: str
) -> tuple[int, list[str]]:
    """Validate pushes to the tracked branch in this process, reusing and then saving the
    repository's per-file cache; (exit code, lines to show the pusher)."""
    cache = CachedFiles.of_repository(repo)
    code, messages = judge_push(repo, lines, branch=branch, subdir=subdir, reuse=cache)
    if code == 0:
        cache.save()
    return code, messages


def judge_push(
    repo: Path,
    lines: Iterable[str],
    *,
    branch: str,
    subdir: str,
    reuse: FileResults | None,
    env: Mapping[str, str] | None = None,
) -> tuple[int, list[str]]:
    """The verdict on ``old new ref`` updates: signatures, then the tracked branch's
    manifests; (exit code, lines to show the pusher). The hook runs it itself or the
    daemon runs it for the hook (``push_validation.py``), there with ``env`` naming the
    push's quarantined objects for every git it runs."""
    messages: list[str] = []
    code = 0
    target = f"refs/heads/{branch}"
    git = GitRepository(repo, branch=branch, subdir=subdir, env=env)
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
        refused, signed = _signatures(repo, old, new, env)
        if refused:
            code = 1
        messages.extend(signed)
        try:
            manifests = git.read_manifests(new)
        except GitError as exc:
            # Fails closed: a revision whose files cannot be read is never accepted.
            code = 1
            messages.append(
                f"homeport: push rejected: cannot read the manifests of {new[:12]}: {exc} "
                "(check the repository with `git fsck`)"
            )
            continue
        result = validate_sources(manifests, reuse=reuse)
        if result.errors:
            code = 1
            messages.append(f"homeport: push rejected, {len(result.errors)} problem(s):")
            messages.extend(error.render() for error in result.errors)
            continue
        if refused:
            continue
        messages.append(f"homeport: {len(result.objects)} objects valid at {new[:12]}")
        if old != ZERO_SHA and not git.is_ancestor(old, new):
            messages.append(
                f"homeport: this is a force-push; the daemon will hold {new[:12]} until "
                f"`homeport approve {new}`."
            )
    return code, messages


def _signatures(
    repo: Path, old: str, new: str, env: Mapping[str, str] | None
) -> tuple[bool, list[str]]:
    """(refused, lines for the pusher) under the repository's signature policy, read at
    every push: a changed allowed signers file counts from the next push on."""
    try:
        policy = read_repository_policy(repo)
        if not policy.enabled:
            return False, []
        report = verify_revision(repo, policy, new, since=old, env=env)
    except (SignatureConfigError, GitError) as exc:
        # Fail closed: a policy that cannot be applied refuses every push.
        return True, [f"homeport: push rejected, signatures cannot be verified: {exc}"]
    if report.ok:
        return False, [f"homeport: {report.summary()}"]
    return True, [
        f"homeport: push rejected, {len(report.failures)} commit(s) not signed by an "
        f"allowed key (signature policy {policy.policy}):",
        *report.lines(),
    ]
