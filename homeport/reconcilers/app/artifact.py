"""A release artifact: downloaded on the VM with ``curl``, verified with ``sha256sum``
before anything is unpacked, unpacked with ``tar`` into a staging directory that is
renamed into place only when complete, so a release directory is always whole.

The release is named by the artifact's SHA-256: a converged App downloads nothing. A
checksum mismatch is remembered (the App's ``artifact`` memory: url, sha256, what was
received) so the same url and checksum are not downloaded again until the manifest changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from homeport.kinds.app import ArtifactSource
from homeport.reconcilers.base import Action

DOWNLOAD_SECONDS = 600


def curl_argv(url: str, output: str) -> list[str]:
    """Fail on HTTP errors (``--fail``), follow redirects over the URL's own protocol only
    (an https URL never falls back to http), bounded in time, written to ``output``."""
    protocols = "=https" if urlsplit(url).scheme == "https" else "=http,https"
    return [
        *("curl", "--fail", "--silent", "--show-error", "--location"),
        *("--proto", protocols, "--proto-redir", protocols),
        *("--max-time", str(DOWNLOAD_SECONDS), "--output", output),
        *("--", url),
    ]


def tar_argv(archive: str, into: str, strip_components: int) -> list[str]:
    """GNU tar detects the compression itself; ``--no-same-owner``: the release belongs
    to root whatever the archive says (the service reads it, it does not rewrite it)."""
    strip = [f"--strip-components={strip_components}"] if strip_components else []
    return ["tar", "-x", "-f", archive, "-C", into, "--no-same-owner", *strip]


def parse_sha256sum(text: str) -> str:
    """The digest of ``sha256sum FILE``'s one line (``<hex>  <name>``)."""
    return text.split(None, 1)[0] if text.strip() else ""


def mismatched_before(failure: Mapping[str, Any], artifact: ArtifactSource) -> bool:
    return failure.get("url") == artifact.url and failure.get("sha256") == artifact.sha256


@dataclass(frozen=True)
class FetchArtifact(Action):
    host: str
    url: str
    sha: str
    strip_components: int
    target: str
    verb = "fetch"

    def describe(self) -> str:
        return (
            f"download {self.url}, verify sha256 {self.sha[:12]} and unpack it into {self.target}"
        )
