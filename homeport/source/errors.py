"""Typed validation problems, rendered as ``file:line: Kind/name: message (fix)``.

Produced by the loader (``manifests.py``) and the cross-object checks (``validate.py``);
printed by ``homeport validate`` and recorded with rejected revisions by the controller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class ManifestError:
    """One problem in the desired state, pointing at the line to fix."""

    file: str
    line: int
    kind: str
    name: str
    message: str
    fix: str | None = None

    def render(self) -> str:
        text = (
            f"{self.file}:{self.line}: {self.kind or 'Unknown'}/{self.name or '-'}: {self.message}"
        )
        return f"{text} ({self.fix})" if self.fix else text

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "kind": self.kind,
            "name": self.name,
            "message": self.message if not self.fix else f"{self.message} ({self.fix})",
        }


class ManifestRejected(Exception):
    """A revision of the desired state failed validation; nothing from it may be applied."""

    def __init__(self, errors: list[ManifestError]) -> None:
        self.errors = sorted(errors)
        super().__init__("\n".join(e.render() for e in self.errors))
