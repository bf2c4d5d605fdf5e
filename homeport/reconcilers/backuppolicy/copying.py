"""What an offsite copy comes to, shared by ``offsite.py`` and ``s3copy.py``."""

from __future__ import annotations

from dataclasses import dataclass

CHUNK = 256 * 1024
"""Bytes per read when an archive is streamed through the control plane."""


@dataclass(frozen=True)
class CopyOutcome:
    state: str  # verified | mismatch | failed
    source_sha256: str | None = None
    target_sha256: str | None = None
    error: str | None = None
    snapshot: str | None = None
    """For an S3 copy: the restic snapshot holding it."""
