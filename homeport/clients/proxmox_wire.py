"""How values look on the Proxmox wire, both ways: parameters out, JSON fields in.

Used by ``proxmox_transport`` (parameter encoding), ``proxmox_fields`` (the field types of
the reply models: ``wire_int`` and friends say ``None`` where a value cannot be read) and the
typed methods in ``proxmox*``. PVE accepts booleans only as ``0``/``1`` (pitfall 18),
wants ``sshkeys`` percent-encoded with ``%20`` and returns it that way (pitfall 15), answers
numbers as strings and the other way round (reference §1.3), and speaks property strings
(``keep-daily=7,keep-weekly=4``) in POST/PUT where GET answers objects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from urllib.parse import quote, unquote

from homeport.clients.secret import Secret

ParamValue = str | int | float | bool | Secret | Sequence[str] | None
"""What a typed method may pass; ``None`` means "leave out"."""

WireValue = str | int | float | list[str]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_TAG_SPLIT = re.compile(r"[,; ]+")


def encode_params(params: Mapping[str, ParamValue]) -> tuple[dict[str, WireValue], list[Secret]]:
    """Wire form of ``params`` plus the secrets among them (to scrub from error messages)."""
    wire: dict[str, WireValue] = {}
    secrets: list[Secret] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, Secret):
            secrets.append(value)
            wire[key] = value.reveal()
        elif isinstance(value, bool):
            wire[key] = int(value)
        elif isinstance(value, str | int | float):
            wire[key] = value
        else:
            wire[key] = [str(v) for v in value]  # repeated keys, e.g. agent/exec `command`
    return wire, secrets


def encode_sshkeys(keys: str | Sequence[str]) -> str:
    """The ``sshkeys`` value PVE accepts: the key block percent-encoded, spaces as ``%20``."""
    text = keys if isinstance(keys, str) else "\n".join(k.strip() for k in keys if k.strip())
    if text and not text.endswith("\n"):
        text += "\n"
    return quote(text, safe="")


def decode_sshkeys(value: str) -> list[str]:
    """The public keys of a config's ``sshkeys`` value, one per entry, without blank lines."""
    return [line.strip() for line in unquote(value).splitlines() if line.strip()]


def parse_property_string(text: str, *, default_key: str | None = None) -> dict[str, str]:
    """``"virtio=BC:24:11:..,bridge=vmbr0"`` → dict; a bare first item goes to ``default_key``."""
    result: dict[str, str] = {}
    for index, item in enumerate(p for p in text.split(",") if p):
        key, sep, value = item.partition("=")
        if not sep:
            if index == 0 and default_key is not None:
                result[default_key] = key
            else:
                result[key] = ""
            continue
        result[key] = value
    return result


def format_property_string(
    values: Mapping[str, str | int | bool], *, default_key: str | None = None
) -> str:
    """Inverse of ``parse_property_string``; booleans as 0/1, the default key first and bare."""
    items: list[str] = []
    if default_key is not None and default_key in values:
        items.append(_prop_value(values[default_key]))
    for key, value in values.items():
        if key != default_key:
            items.append(f"{key}={_prop_value(value)}")
    return ",".join(items)


def _prop_value(value: str | int | bool) -> str:
    return str(int(value)) if isinstance(value, bool) else str(value)


def parse_size(text: str) -> int:
    """``"32G"`` → bytes (PVE's binary units; a bare number is bytes)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a disk size: {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def format_size(size: int) -> str:
    """Bytes → the largest exact unit PVE understands (``"34G"``, ``"512M"``, ``"1000"``)."""
    for unit in ("T", "G", "M", "K"):
        if size % _UNITS[unit] == 0 and size >= _UNITS[unit]:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


def parse_tags(value: object) -> tuple[str, ...]:
    """PVE tags (``"a;b"``, also ``,`` or space separated) → sorted, unique."""
    if not isinstance(value, str):
        return ()
    return tuple(sorted({t for t in _TAG_SPLIT.split(value) if t}))


def format_tags(tags: Sequence[str]) -> str:
    return ";".join(sorted(set(tags)))


def wire_int(value: object) -> int | None:
    """PVE integers arrive as numbers or strings ("101"); ``None`` for anything else."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = wire_float(value)
    return None if number is None else int(number)


def wire_float(value: object) -> float | None:
    """PVE numbers arrive as numbers or strings ("0.25"); ``None`` for anything else,
    including what Python reads as a number and PVE never sends ("inf", "nan")."""
    if isinstance(value, bool | int):
        return float(value)
    if isinstance(value, float):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def wire_bool(value: object) -> bool | None:
    """PVE booleans arrive as 0/1, "0"/"1", or (in JSON bodies) true/false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return None


def as_int(value: object, default: int = 0) -> int:
    number = wire_int(value)
    return default if number is None else number


def as_float(value: object, default: float = 0.0) -> float:
    number = wire_float(value)
    return default if number is None else number


def as_bool(value: object, default: bool = False) -> bool:
    flag = wire_bool(value)
    return default if flag is None else flag


def as_str(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def split_list(value: object) -> tuple[str, ...]:
    """A comma-separated list (``content``, a job's ``vmid``) → its non-empty items."""
    if not isinstance(value, str):
        return ()
    return tuple(v for v in value.split(",") if v)
