"""Structured logging for the daemon: text for humans, JSON lines for collectors.

Secrets never reach the log: reconcilers log action descriptions, which mask them.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

FIELDS = (
    ("object_kind", "kind"),
    ("object_name", "name"),
    ("reason", "reason"),
    ("action", "action"),
    ("revision", "revision"),
)
"""(LogRecord attribute, JSON field) of the structured fields."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # LogRecord owns ``name`` (the logger's): the object's is carried as ``object_name``.
        for field, key in FIELDS:
            if hasattr(record, field):
                entry[key] = getattr(record, field)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def object_fields(
    kind: str,
    name: str,
    *,
    reason: str | None = None,
    action: str | None = None,
    revision: str | None = None,
) -> dict[str, str]:
    """``extra=`` for a log line about one object: JSON logs carry them as fields."""
    fields = {"object_kind": kind, "object_name": name}
    for key, value in (("reason", reason), ("action", action), ("revision", revision)):
        if value:
            fields[key] = value
    return fields


def log_event(
    logger: logging.Logger,
    kind: str,
    name: str,
    reason: str,
    message: str,
    *,
    level: int = logging.INFO,
    revision: str | None = None,
) -> None:
    """The log line of an estate event (the same words as in the store's events)."""
    logger.log(
        level,
        "%s/%s: %s: %s",
        kind,
        name,
        reason,
        message,
        extra=object_fields(kind, name, reason=reason, revision=revision),
    )


def configure_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Quiet libraries that log per request.
    for noisy in ("asyncssh", "httpx", "urllib3", "watchfiles"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
