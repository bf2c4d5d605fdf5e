"""Finding secrets written in plain text into manifests (they belong in the secrets dir).

Used by ``validate.py`` over the raw data of every document, so the error points at the
exact line. Heuristics, tuned to catch keys, passwords, tokens and private keys while
letting public SSH keys, git SHAs and ordinary settings through.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_KNOWN_TOKENS = [
    (re.compile(r"\btskey-[a-z]+-[A-Za-z0-9-]{8,}"), "a Tailscale key"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), "a GitHub token"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}"), "a GitHub token"),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), "a GitLab token"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "a Google API key"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"), "an API secret key"),
    (re.compile(r"\bsk_(?:live|test)_[A-Za-z0-9]{16,}"), "a Stripe key"),
    (re.compile(r"PVEAPIToken=\S+=\S+"), "a Proxmox API token"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+"), "a JWT"),
]
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)
_SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH_?KEY|DSN)",
    re.IGNORECASE,
)
# Variables that name where a secret lives rather than hold it.
_REFERENCE_NAME = re.compile(
    r"(_FILE|_PATH|_DIR|_URL_FILE|_ID|_USER|_USERNAME|_NAME)$", re.IGNORECASE
)
# Public keys are not secrets; repo and artifact URLs get a sharper message from the App
# model itself.
_PUBLIC_PATHS = (
    "spec.cloudInit.sshKeys",
    "spec.source.repo",
    "spec.source.git.repo",
    "spec.source.artifact.url",
)


@dataclass(frozen=True)
class SecretFinding:
    path: tuple[str | int, ...]
    what: str


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path if not isinstance(p, int))


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_random(value: str) -> bool:
    """A long token-like string with high entropy and mixed characters (not hex, not words)."""
    token = value.strip()
    if len(token) < 24 or any(c.isspace() for c in token) or "/" in token.strip("/")[:1]:
        return False
    if re.fullmatch(r"[0-9a-f]+", token) or re.fullmatch(r"[0-9A-F]+", token):
        return False  # git SHAs and checksums are not secrets
    classes = sum(
        bool(re.search(pattern, token))
        for pattern in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")
    )
    return classes >= 3 and _entropy(token) >= 4.0


def _in_value(value: str) -> str | None:
    if _PRIVATE_KEY.search(value):
        return "a private key block"
    for pattern, what in _KNOWN_TOKENS:
        if pattern.search(value):
            return what
    if _URL_PASSWORD.search(value):
        return "a URL with an embedded password"
    return None


def find_secrets(data: Any, path: tuple[str | int, ...] = ()) -> Iterator[SecretFinding]:
    """Every place in a document's data that holds what looks like a secret."""
    dotted = _dotted(path)
    if isinstance(data, dict):
        for key, value in data.items():
            yield from find_secrets(value, (*path, str(key)))
        return
    if isinstance(data, list):
        for index, value in enumerate(data):
            yield from find_secrets(value, (*path, index))
        return
    if not isinstance(data, str) or dotted.startswith(_PUBLIC_PATHS):
        return
    what = _in_value(data)
    if what is None and dotted.startswith("spec.env.") and data:
        name = str(path[-1])
        if _SECRET_NAME.search(name) and not _REFERENCE_NAME.search(name):
            what = f"a secret (the variable is named {name})"
        elif looks_random(data):
            what = "a random-looking token"
    if what is not None:
        yield SecretFinding(path, what)
