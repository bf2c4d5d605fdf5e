"""What one manifest file says on its own, and stores that keep it between validations.

``validate.validate_sources`` validates a revision in two stages: per file (parse the
YAML into documents with their lines, ``yaml_documents``; scan them for secrets,
``secrets_scan``; each document into its model, ``manifests.load_document``) and then the
whole estate (the cross-object checks). The first stage is a pure function of the file's
name, bytes and ``SourceLimits`` (and of this process's models), so a ``FileResults``
store may hand back an earlier ``FileResult`` for the same ``FileKey`` instead of doing it
again; the second stage always runs, so a revision is refused exactly as a full
validation refuses it.

Two stores: ``RememberedFiles`` in memory (the daemon, from one revision to the next) and
``file_cache.CachedFiles`` on disk, in the bare repository (the pre-receive hook, one
process per push). ``BorrowedFiles`` reads the daemon's without changing it, for the
pushes the daemon validates for the hook (``push_validation.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from homeport.source.errors import ManifestError
from homeport.source.limits import SourceLimits
from homeport.source.secrets_scan import find_secrets
from homeport.source.yaml_documents import YamlDocument, parse_documents

if TYPE_CHECKING:
    from homeport.source.manifests import LoadedObject

Loaded = tuple["LoadedObject | None", tuple[ManifestError, ...]]
"""One document as its model (None: not one) and what was wrong with it
(``manifests.load_document``)."""


@dataclass(frozen=True)
class FileKey:
    """What a file's result depends on: its name (errors carry it), the SHA-256 of its
    bytes, computed here from the bytes read (never taken from a store or from git's
    object ids), and the limits it was read under."""

    name: str
    digest: str
    limits: SourceLimits

    @classmethod
    def of(cls, name: str, raw: bytes, limits: SourceLimits) -> FileKey:
        return cls(name, hashlib.sha256(raw).hexdigest(), limits)


@dataclass(frozen=True)
class FileResult:
    """The per-file stage's outcome for one file."""

    documents: tuple[YamlDocument, ...]
    parse_errors: tuple[ManifestError, ...]
    secret_errors: tuple[ManifestError, ...]
    loaded: tuple[Loaded, ...] | None = None
    """Each document as its model, once ``validate.load_file`` made them: a pure function
    of the document too, and most of what validating an unchanged file cost (kept in
    memory only; ``file_cache.py`` does not write them)."""

    @property
    def clean(self) -> bool:
        """Nothing wrong in the file alone (the estate may still refuse it)."""
        return not self.parse_errors and not self.secret_errors


class FileResults(Protocol):
    """A store of per-file results; it may forget anything, and must never answer for
    another key."""

    def recall(self, keys: Sequence[FileKey]) -> dict[FileKey, FileResult]:
        """The results it holds for these keys (any subset, even none)."""
        ...

    def keep(self, results: Mapping[FileKey, FileResult]) -> None:
        """The results of the revision just validated; what else it holds may go (a store
        may also wait to be told that the revision was accepted)."""
        ...


class RememberedFiles:
    """Per-file results of the last revision validated in this process (the daemon)."""

    def __init__(self) -> None:
        self._results: dict[FileKey, FileResult] = {}

    def recall(self, keys: Sequence[FileKey]) -> dict[FileKey, FileResult]:
        # One dict throughout: ``keep`` may replace it meanwhile, from another thread (the
        # daemon validating a push while it adopts a revision).
        held = self._results
        return {key: held[key] for key in keys if key in held}

    def keep(self, results: Mapping[FileKey, FileResult]) -> None:
        self._results = dict(results)


class BorrowedFiles:
    """Recalls from a store it must never change, and keeps in one of its own only what
    that store did not hold: the daemon validating a push for the pre-receive hook reads
    the per-file results of the revision it adopted, and leaves them as they were."""

    def __init__(self, borrowed: FileResults) -> None:
        self.borrowed = borrowed
        self.own = RememberedFiles()

    def recall(self, keys: Sequence[FileKey]) -> dict[FileKey, FileResult]:
        found = self.borrowed.recall(keys)
        found.update(self.own.recall([key for key in keys if key not in found]))
        return found

    def keep(self, results: Mapping[FileKey, FileResult]) -> None:
        held = self.borrowed.recall(list(results))
        self.own.keep({key: result for key, result in results.items() if key not in held})


def parse_file(name: str, raw: bytes, limits: SourceLimits) -> FileResult:
    """The file's documents and YAML problems; not yet scanned for secrets (a revision
    over ``max_objects`` is refused before any scan)."""
    documents, problems = parse_documents(name, raw, limits.max_file_bytes)
    return FileResult(tuple(documents), tuple(problems), ())


def scan_file(parsed: FileResult) -> FileResult:
    """``parsed`` with the secrets found in its documents."""
    found = tuple(error for document in parsed.documents for error in secret_errors(document))
    return FileResult(parsed.documents, parsed.parse_errors, found)


def secret_errors(document: YamlDocument) -> list[ManifestError]:
    """One error per value of the document that looks like a secret: where it is and what
    it looks like, never the value."""
    data = document.data if isinstance(document.data, dict) else {}
    kind = str(data.get("kind", "")) if isinstance(data.get("kind"), str) else ""
    metadata = data.get("metadata")
    name = str(metadata.get("name", "")) if isinstance(metadata, dict) else ""
    return [
        ManifestError(
            document.file,
            document.line_of(finding.path),
            kind,
            name,
            f"{'.'.join(str(p) for p in finding.path)} holds {finding.what} in plain text",
            "secrets never go to git: put the value in a file in the secrets directory and "
            "reference it with secretEnv/envFrom",
        )
        for finding in find_secrets(data)
    ]
