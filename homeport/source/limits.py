"""Bounds on what one revision of the desired state may cost to read and validate.

Checked by ``selection.read_selected`` from the sizes a tree lists (``git ls-tree -l``,
``stat``) BEFORE any content is read, and by ``validate.validate_sources`` for the object
count, so a huge or hostile push is refused in milliseconds and in bounded memory.
A git estate takes its limits from the bare repository's git config
(``homeport.maxFileBytes``, ``homeport.maxEstateBytes``, ``homeport.maxObjects``), read
alike by the pre-receive hook and the daemon; docs/manifests.md#limits lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class SourceLimits:
    max_file_bytes: int = 4 * MiB
    """Largest manifest file."""
    max_estate_bytes: int = 8 * MiB
    """All manifest files of a revision together. An estate of 5000 objects is about
    1 MiB; parsing costs seconds per MiB of dense YAML, and a push waits for it."""
    max_objects: int = 5000
    """YAML documents (objects) in a revision."""


GIT_CONFIG_KEYS = {
    "homeport.maxfilebytes": "max_file_bytes",
    "homeport.maxestatebytes": "max_estate_bytes",
    "homeport.maxobjects": "max_objects",
}


def human_bytes(size: int) -> str:
    if size >= MiB:
        return f"{size / MiB:.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"


def too_large(size: int, limit: int) -> tuple[str, str]:
    """(message, fix) for a manifest file over ``max_file_bytes``."""
    return (
        f"file is {human_bytes(size)}, larger than the {human_bytes(limit)} limit per file",
        "split it into several manifest files",
    )
