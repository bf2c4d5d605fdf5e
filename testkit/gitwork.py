"""A working clone for tests: write manifests, commit, push to the control plane's repo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": os.environ.get("HOME", "/tmp"),
}


class WorkClone:
    def __init__(self, remote: Path, path: Path, branch: str = "main") -> None:
        self.remote = remote
        self.path = path
        self.branch = branch
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", f"--initial-branch={branch}")
        self.git("remote", "add", "origin", str(remote))

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(self.path), *args],
            capture_output=True,
            text=True,
            env=ENV,
            check=check,
        )

    def write(self, name: str, content: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)

    def remove(self, name: str) -> None:
        self.git("rm", "-q", name)

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.strip()

    def push(self, *, force: bool = False) -> subprocess.CompletedProcess[str]:
        args = ["push", "-q", "origin", f"HEAD:refs/heads/{self.branch}"]
        if force:
            args.insert(1, "--force")
        return self.git(*args, check=False)

    def delete_branch(self) -> subprocess.CompletedProcess[str]:
        return self.git("push", "-q", "origin", f":refs/heads/{self.branch}", check=False)


def machine(name: str, node: str | None = None) -> str:
    return f"""apiVersion: homeport.dev/v1alpha1
kind: Machine
metadata: {{name: {name}}}
spec: {{node: {node or name}, capacity: {{cores: 8, memoryMiB: 16384}}}}
"""
