"""The pre-receive hook imports what validation needs and nothing of the daemon: no
reconciler, client, controller, simulator, CLI, nor their libraries (aiohttp, asyncssh,
proxmoxer, httpx, typer, rich). When the daemon judges the push for it, the hook imports
no validation either: no models (pydantic), no YAML, no asyncio.

Each probe runs the hook's real entry point (``hook_entry.main``, what the installed hook
execs) in a fresh interpreter on a small bare repository, then reads ``sys.modules``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from homeport.source.file_results import RememberedFiles
from homeport.source.git import ZERO_SHA
from homeport.source.hooks import init_repository
from homeport.source.push_socket import VALIDATE_SOCKET
from homeport.source.push_validation import PushValidator, serve_pushes
from testkit.gitwork import WorkClone, machine
from tests.cli.test_lazy_imports import loaded

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
out = sys.argv[1]
from homeport.source.hook_entry import main
code = main(["pre-receive", "--branch", "main", "--path", "."])
vm = sys.modules.get("homeport.kinds.vm")
described = vm is not None and bool(vm.VMSpec.model_fields["memory_mib"].description)
with open(out, "w") as f:
    json.dump({"exit": code, "modules": sorted(sys.modules), "described": described}, f)
"""
# Not one of these is needed to validate a push.
NEVER = (
    "homeport.reconcilers",
    "homeport.clients",
    "homeport.controller",
    "homeport.services",
    "homeport.simulator",
    "homeport.cli",
    "aiohttp",
    "asyncssh",
    "proxmoxer",
    "httpx",
    "typer",
    "rich",
    "watchfiles",
    "sqlite_utils",
    "opentelemetry",
    "asyncio",  # only the daemon listens for the post-receive hook's poke
)
# What the daemon's answer saves the hook from importing.
VALIDATION = (
    "pydantic",
    "yaml",
    "homeport.kinds",
    "homeport.source.hooks",
    "homeport.source.validate",
    "homeport.source.file_cache",
    "homeport.source.signatures",
)
BROKEN_VM = """apiVersion: homeport.dev/v1alpha1
kind: VM
metadata: {name: web}
spec: {machine: m1, cores: many, memoryMiB: 1024, disk: {sizeGiB: 8}}
"""


@dataclass(frozen=True)
class Hook:
    exit: int
    modules: set[str]
    stderr: str
    described: bool  # whether the models read their fields' docstrings


def run_hook(repo: Path, update: str) -> Hook:
    out = repo.parent / "modules.json"
    ran = subprocess.run(
        [sys.executable, "-c", PROBE, str(out)],
        input=update + "\n",
        env={**os.environ, "PYTHONPATH": str(ROOT), "GIT_DIR": str(repo)},
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads(out.read_text())
    return Hook(result["exit"], set(result["modules"]), ran.stderr, result["described"])


def pushed_to(tmp_path: Path, files: dict[str, str], branch: str) -> tuple[Path, str]:
    """The bare repository and the sha of ``files`` committed and pushed to ``branch``."""
    repo = init_repository(tmp_path / "estate.git")
    work = WorkClone(repo, tmp_path / "work", branch=branch)
    for name, text in files.items():
        work.write(name, text)
    sha = work.commit()
    assert work.push().returncode == 0
    return repo, sha


def test_a_valid_push_loads_validation_only(tmp_path: Path) -> None:
    repo, sha = pushed_to(tmp_path, {"m1.yaml": machine("m1")}, "main")
    hook = run_hook(repo, f"{ZERO_SHA} {sha} refs/heads/main")
    assert hook.exit == 0
    assert f"homeport: 1 objects valid at {sha[:12]}" in hook.stderr
    assert "homeport.source.validate" in hook.modules  # the probe did validate
    assert loaded(hook.modules, *NEVER) == []
    # Nor does it parse the models' source for field descriptions it never shows.
    assert not hook.described


def test_an_invalid_push_is_rejected_with_the_same_imports(tmp_path: Path) -> None:
    """Errors still name file, line, object and fix without the CLI or daemon loaded; the
    push lands on another branch first, so the repository has its objects."""
    repo, sha = pushed_to(tmp_path, {"m1.yaml": machine("m1"), "web.yaml": BROKEN_VM}, "wip")
    hook = run_hook(repo, f"{ZERO_SHA} {sha} refs/heads/main")
    assert hook.exit == 1
    assert "homeport: push rejected, 1 problem(s):" in hook.stderr
    assert "web.yaml:4: VM/web:" in hook.stderr
    assert loaded(hook.modules, *NEVER) == []


async def test_a_push_the_daemon_judges_loads_no_validation(tmp_path: Path) -> None:
    repo, sha = pushed_to(tmp_path, {"m1.yaml": machine("m1"), "web.yaml": BROKEN_VM}, "wip")
    answered: list[bytes | None] = []
    validator = PushValidator(repo, adopted=RememberedFiles())

    def answer(raw: bytes) -> bytes | None:
        answered.append(validator.answer(raw))
        return answered[-1]

    stop = asyncio.Event()
    server = asyncio.create_task(serve_pushes(repo / VALIDATE_SOCKET, answer, stop))
    await asyncio.sleep(0)  # one step: the task binds before its first wait
    try:
        hook = await asyncio.to_thread(run_hook, repo, f"{ZERO_SHA} {sha} refs/heads/main")
    finally:
        stop.set()
        await server
    assert len(answered) == 1 and answered[0] is not None
    assert hook.exit == 1
    assert "homeport: push rejected, 1 problem(s):" in hook.stderr
    assert "web.yaml:4: VM/web:" in hook.stderr
    assert "homeport.source.push_socket" in hook.modules  # the probe did ask
    assert loaded(hook.modules, *NEVER, *VALIDATION) == []
