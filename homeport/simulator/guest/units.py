"""Parsing of systemd unit files and environment files, with systemd's own rules.

``systemd.py`` loads a :class:`ServiceUnit` from ``/etc/systemd/system/<name>.service`` on
the guest disk (``rootfs.py``) and reads ``EnvironmentFile=`` files with
:func:`parse_environment_file` at every start, as PID 1 does (``man 5 systemd.exec``).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

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


def parse_environment_assignments(values: list[str]) -> tuple[tuple[str, str], ...]:
    """``Environment="A=1" B=2`` lines → ordered pairs, later assignments winning."""
    env: dict[str, str] = {}
    for value in values:
        for word in shlex.split(value, posix=True):
            name, sep, assigned = word.partition("=")
            if sep and ENV_NAME.match(name):
                env[name] = assigned
    return tuple(env.items())


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
        environment=parse_environment_assignments(_accumulate(service, "Environment")),
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


class _EnvFileParser:
    """A transcription of the state machine of systemd's ``parse_env_file``."""

    def __init__(self) -> None:
        self.pairs: dict[str, str] = {}
        self.state = "pre_key"
        self.key = ""
        self.value = ""
        self.value_ws = 0  # trailing unescaped whitespace in an unquoted value

    def push(self) -> None:
        key = self.key.rstrip()
        value = self.value[: len(self.value) - self.value_ws] if self.value_ws else self.value
        if ENV_NAME.match(key):
            self.pairs[key] = value
        self.key = self.value = ""
        self.value_ws = 0

    def feed(self, c: str) -> None:
        getattr(self, "_" + self.state)(c)

    def _pre_key(self, c: str) -> None:
        if c in "#;":
            self.state = "comment"
        elif not c.isspace():
            self.state, self.key = "key", c

    def _key(self, c: str) -> None:
        if c == "\n":
            self.state, self.key = "pre_key", ""
        elif c == "=":
            self.state = "pre_value"
        else:
            self.key += c

    def _pre_value(self, c: str) -> None:
        if c == "\n":
            self.push()
            self.state = "pre_key"
        elif c == "'":
            self.state = "single"
        elif c == '"':
            self.state = "double"
        elif c == "\\":
            self.state = "value_escape"
        elif not c.isspace():
            self.state, self.value, self.value_ws = "value", self.value + c, 0

    def _value(self, c: str) -> None:
        if c == "\n":
            self.push()
            self.state = "pre_key"
        elif c == "\\":
            self.state, self.value_ws = "value_escape", 0
        else:
            self.value += c
            self.value_ws = self.value_ws + 1 if c.isspace() else 0

    def _value_escape(self, c: str) -> None:
        self.state = "value"
        if c != "\n":
            self.value += c
            self.value_ws = 0

    def _single(self, c: str) -> None:
        if c == "'":
            self.state = "pre_value"
        else:
            self.value += c

    def _double(self, c: str) -> None:
        if c == '"':
            self.state = "pre_value"
        elif c == "\\":
            self.state = "double_escape"
        else:
            self.value += c

    def _double_escape(self, c: str) -> None:
        self.state = "double"
        if c in '"\\`$':
            self.value += c
        elif c != "\n":
            self.value += "\\" + c

    def _comment(self, c: str) -> None:
        if c == "\\":
            self.state = "comment_escape"
        elif c == "\n":
            self.state = "pre_key"

    def _comment_escape(self, c: str) -> None:
        self.state = "comment"

    def finish(self) -> dict[str, str]:
        if self.state in ("pre_value", "value", "value_escape", "single", "double"):
            self.push()
        elif self.state == "double_escape":
            self.value += "\\"
            self.push()
        return self.pairs


def parse_environment_file(text: str) -> dict[str, str]:
    parser = _EnvFileParser()
    for c in text:
        parser.feed(c)
    return parser.finish()
