"""Parsing of systemd unit files and environment files, with systemd's own rules.

``systemd.py`` loads a :class:`ServiceUnit` from ``/etc/systemd/system/<name>.service`` on
the guest disk (``rootfs.py``) and reads ``EnvironmentFile=`` files with
:func:`envfile.parse_environment_file` at every start, as PID 1 does (``man 5 systemd.exec``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .envfile import parse_environment_assignments

TIMESPAN_UNITS: dict[str, float] = {
    "us": 1e-6,
    "usec": 1e-6,
    "ms": 1e-3,
    "msec": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}


class UnitFileError(ValueError):
    """The unit file has a setting systemd refuses (LoadState=bad-setting)."""


@dataclass(frozen=True)
class ServiceUnit:
    """The settings of a ``.service`` unit that the simulated systemd acts on."""

    name: str
    fragment_path: str
    digest: str
    description: str
    type: str
    exec_start: str
    working_directory: str | None
    environment: tuple[tuple[str, str], ...]
    environment_files: tuple[str, ...]
    user: str | None
    group: str | None
    restart: str
    restart_sec: float
    timeout_start_sec: float
    start_limit_burst: int
    start_limit_interval_sec: float
    remain_after_exit: bool
    wanted_by: tuple[str, ...]
    has_install: bool


def content_digest(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def parse_timespan(value: str) -> float:
    """``5``, ``100ms``, ``1min 30s``, ``infinity`` → seconds (``infinity`` → inf)."""
    value = value.strip()
    if value == "infinity":
        return float("inf")
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", value):
        if unit not in TIMESPAN_UNITS:
            raise ValueError(value)
        total += float(number) * TIMESPAN_UNITS[unit]
    if not total and value not in ("0", ""):
        raise ValueError(value)
    return total


def format_timespan(seconds: float) -> str:
    """Like systemd's ``format_timespan``: ``100ms``, ``5s``, ``1min 30s``, ``infinity``."""
    if seconds == float("inf"):
        return "infinity"
    if seconds == 0:
        return "0"
    parts: list[str] = []
    remaining = round(seconds * 1000)
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000), ("ms", 1)):
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return " ".join(parts)


def read_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    """``[Section]`` → ordered ``(key, value)`` pairs; keys may repeat."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped[1:-1], [])
        elif current is not None and "=" in stripped:
            key, _, value = stripped.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def _last(pairs: list[tuple[str, str]], key: str, default: str = "") -> str:
    values = [v for k, v in pairs if k == key]
    return values[-1] if values else default


def _accumulate(pairs: list[tuple[str, str]], key: str) -> list[str]:
    """List settings: each assignment appends, an empty assignment resets."""
    values: list[str] = []
    for k, v in pairs:
        if k == key:
            if v == "":
                values.clear()
            else:
                values.append(v)
    return values


def parse_unit(name: str, fragment_path: str, content: bytes) -> ServiceUnit:
    sections = read_sections(content.decode(errors="replace"))
    unit = sections.get("Unit", [])
    service = sections.get("Service", [])
    install = sections.get("Install", [])
    exec_start = _last(service, "ExecStart")
    service_type = _last(service, "Type", "simple")
    if not exec_start and service_type != "oneshot":
        raise UnitFileError("Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing.")
    wanted_by = tuple(w for v in _accumulate(install, "WantedBy") for w in v.split())
    try:
        restart_sec = parse_timespan(_last(service, "RestartSec", "100ms"))
        timeout = parse_timespan(_last(service, "TimeoutStartSec", "90s"))
        interval = parse_timespan(_last(unit, "StartLimitIntervalSec", "10s"))
    except ValueError as exc:
        raise UnitFileError(f"Failed to parse time span: {exc}") from exc
    return ServiceUnit(
        name=name,
        fragment_path=fragment_path,
        digest=content_digest(content),
        description=_last(unit, "Description", name),
        type=service_type,
        exec_start=exec_start,
        working_directory=_last(service, "WorkingDirectory") or None,
        environment=parse_environment_assignments(_accumulate(service, "Environment"), name),
        environment_files=tuple(_accumulate(service, "EnvironmentFile")),
        user=_last(service, "User") or None,
        group=_last(service, "Group") or None,
        restart=_last(service, "Restart", "no"),
        restart_sec=restart_sec,
        timeout_start_sec=timeout,
        start_limit_burst=int(_last(unit, "StartLimitBurst", "5")),
        start_limit_interval_sec=interval,
        remain_after_exit=_last(service, "RemainAfterExit", "no") in ("yes", "true", "1", "on"),
        wanted_by=wanted_by,
        has_install=bool(install),
    )
