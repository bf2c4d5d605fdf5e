"""The build step: once per release, in its checkout, as the App's user, before the release
goes live. Done is recorded on the VM (``releases/<sha>.built``, holding the hash of the
build command), a failure in the App's memory (release, command hash, exit status), so a
converged App never builds again and a failed build is not retried for the same release
and command. The build gets no secret: the App's env file is not passed to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeport.kinds.app import BuildStep
from homeport.reconcilers.appfiles import sha256
from homeport.reconcilers.base import Action
from homeport.source.secrets_scan import find_secrets

KILL_AFTER_SECONDS = 10
OUTPUT_LINES = 20
OUTPUT_CHARS = 2000
BUILT = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})\.built$")


def command_sha(build: BuildStep) -> str:
    return sha256(build.command)


def marker(release_path: str) -> str:
    return f"{release_path}.built"


def build_argv(build: BuildStep, user: str, release_path: str) -> list[str]:
    """coreutils ``timeout`` kills the build (and after a grace ``-k``, for good) on the VM
    itself, so a build that hangs never outlives its declared time; ``runuser`` drops to
    the App's user; ``env -C`` runs it in the checkout."""
    return [
        *("timeout", "-k", f"{KILL_AFTER_SECONDS}s", f"{build.timeout_seconds}s"),
        *("runuser", "-u", user, "--", "env", "-C", release_path, "--", *build.argv),
    ]


def output_tail(stdout: str, stderr: str) -> str:
    """The last lines of the build's output (stdout then stderr), bounded; a line that
    looks like it holds a secret (a token, a key, a URL password) is withheld, since
    events go to the store, the logs and notifications."""
    lines = [line for line in (stdout + "\n" + stderr).splitlines() if line.strip()]
    shown = []
    for line in lines[-OUTPUT_LINES:]:
        finding = next(find_secrets(line), None)
        shown.append(f"[line withheld: it holds {finding.what}]" if finding else line)
    return "\n".join(shown)[-OUTPUT_CHARS:]


def failed_before(failure: Mapping[str, Any], release: str, build: BuildStep) -> bool:
    return failure.get("release") == release and failure.get("commandSha") == command_sha(build)


@dataclass(frozen=True)
class BuildRelease(Action):
    host: str
    user: str
    path: str
    sha: str
    command_sha: str
    verb = "build"

    def describe(self) -> str:
        return f"build release {self.sha[:12]} in {self.path} as {self.user}"
