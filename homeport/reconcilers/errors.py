"""Errors reconcilers raise on purpose, handled in one place (``controller/engine.py``).

    ReconcileError
     ├── TemporaryError(delay)  → requeue after ``delay`` (or the key's backoff when None)
     └── PermanentError(reason) → condition Stalled, no retry until the spec changes

Any other exception raised by a reconciler counts as a TemporaryError with backoff and an
event: a bug must not stop the rest of the estate from converging.
"""

from __future__ import annotations


class ReconcileError(Exception):
    """Base of the errors a reconciler raises on purpose."""

    def __init__(self, message: str, *, reason: str = "ReconcileError") -> None:
        super().__init__(message)
        self.reason = reason


class TemporaryError(ReconcileError):
    """Something that should pass: retry after ``delay`` seconds (None: exponential backoff)."""

    def __init__(
        self, message: str, *, delay: float | None = None, reason: str = "Retrying"
    ) -> None:
        super().__init__(message, reason=reason)
        self.delay = delay


class PermanentError(ReconcileError):
    """Something only a change of the manifest (or the operator) can fix: stall."""

    def __init__(self, message: str, *, reason: str = "Stalled", fix: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.fix = fix
