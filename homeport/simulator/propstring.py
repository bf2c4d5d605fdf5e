"""PVE property strings (`virtio=BC:24:11:..,bridge=vmbr0`) and disk sizes (`32G`).

Pure text helpers used by `pve.qemu_config` (drives, nets, memory), `pve.backups`
(`prune-backups`), `pve.vms` (MACs) and the parameter checks in `proxmox_api.params`.
Printing follows `PVE::JSONSchema::print_property_string`: the default key's value first
without its name, then the other keys sorted.
"""

from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$")


def parse_propstring(text: str, default_key: str | None = None) -> dict[str, str]:
    """Split `a=1,b=2` (a bare first item belongs to `default_key`). Raises ValueError."""
    result: dict[str, str] = {}
    for part in text.split(","):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            if default_key is None or default_key in result:
                raise ValueError(
                    f"value without key, but schema does not define a default key: {part}"
                )
            result[default_key] = part
            continue
        if key in result:
            raise ValueError(f"duplicate key in comma-separated list property: {key}")
        result[key] = value
    return result


def format_propstring(values: dict[str, str], default_key: str | None = None) -> str:
    """Print a property string the way PVE writes it to a config file."""
    parts = []
    if default_key is not None and default_key in values:
        parts.append(values[default_key])
    parts.extend(f"{k}={values[k]}" for k in sorted(values) if k != default_key)
    return ",".join(parts)


def parse_size(text: str) -> int:
    """`32G` -> bytes; a bare number is bytes. Raises ValueError."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"unable to parse size '{text}'")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def format_size(size: int) -> str:
    """Bytes -> the largest unit that divides evenly (`34359738368` -> `32G`)."""
    for unit in ("T", "G", "M", "K"):
        if size and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


def parse_keep_options(text: str) -> dict[str, int]:
    """`keep-daily=7,keep-weekly=4` -> {"keep-daily": 7, ...}. Raises ValueError."""
    keep: dict[str, int] = {}
    for key, value in parse_propstring(text).items():
        if key not in KEEP_KEYS:
            raise ValueError(f"invalid key in comma-separated list property: {key}")
        if not re.fullmatch(r"\d+", value):
            raise ValueError(f"{key}: type check ('integer') failed - got '{value}'")
        keep[key] = int(value)
    return keep


KEEP_KEYS = (
    "keep-all",
    "keep-last",
    "keep-hourly",
    "keep-daily",
    "keep-weekly",
    "keep-monthly",
    "keep-yearly",
)
