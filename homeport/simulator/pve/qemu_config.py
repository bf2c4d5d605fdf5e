"""QEMU VM config files as PVE stores them: typed values, the text file, its digest.

A config is a dict of key -> int (integer and boolean keys) or str (everything else,
property strings included), plus a `[PENDING]` section for changes to a running VM. The
`digest` clients send back is the sha1 of the rendered file. Also: which keys are drives or
NICs, which can change on a running VM without a reboot, and PVE's normalisations (tags,
description, generated MACs). Used by `vms`, `clone`, `create`, `config_update`, `backups`.
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from typing import Any

from homeport.simulator.propstring import format_propstring, parse_propstring

__all__ = ["format_propstring", "parse_propstring"]

ConfigValue = int | str
Config = dict[str, ConfigValue]

INTEGER_KEYS = frozenset(
    {"cores", "sockets", "vcpus", "balloon", "cpuunits", "shares", "migrate_speed"}
)
BOOLEAN_KEYS = frozenset(
    {
        "onboot",
        "template",
        "protection",
        "numa",
        "acpi",
        "kvm",
        "tablet",
        "localtime",
        "freeze",
        "reboot",
        "ciupgrade",
        "autostart",
    }
)
DRIVE_RE = re.compile(
    r"^(ide[0-3]|sata[0-5]|scsi(?:[0-9]|[12][0-9]|30)|virtio(?:[0-9]|1[0-5])|efidisk0|tpmstate0)$"
)
UNUSED_RE = re.compile(r"^unused\d+$")
NET_RE = re.compile(r"^net\d+$")
NET_MODELS = ("e1000", "e1000e", "rtl8139", "virtio", "vmxnet3", "ne2k_pci", "pcnet", "i82551")
FAST_PLUG = frozenset(
    {"name", "onboot", "shares", "startup", "description", "protection", "tags", "lock"}
)
CLOUDINIT_KEYS = ("ciuser", "cipassword", "ciupgrade", "sshkeys", "nameserver", "searchdomain")
MASKED = "**********"
MAC_PREFIX = "BC:24:11"


def typed(key: str, value: Any) -> ConfigValue:
    """The value as PVE keeps it in memory: numbers for integer/boolean keys."""
    if key in INTEGER_KEYS or key in BOOLEAN_KEYS:
        return int(value)
    return str(value)


def is_drive_key(key: str) -> bool:
    return bool(DRIVE_RE.match(key))


def is_unused_key(key: str) -> bool:
    return bool(UNUSED_RE.match(key))


def is_net_key(key: str) -> bool:
    return bool(NET_RE.match(key))


def is_cloudinit_key(key: str) -> bool:
    return key in CLOUDINIT_KEYS or key.startswith("ipconfig")


def drive_file(value: str) -> str:
    """The volume (or `none`/ISO) of a drive property string."""
    return parse_propstring(value, "file").get("file", "")


def is_cdrom(value: str) -> bool:
    return parse_propstring(value, "file").get("media") == "cdrom" and "cloudinit" not in value


def is_cloudinit_drive(value: str) -> bool:
    return "cloudinit" in drive_file(value)


def drive_volumes(conf: Config) -> dict[str, str]:
    """key -> volid of every volume the config references (drives and unused*)."""
    volumes: dict[str, str] = {}
    for key, value in conf.items():
        if is_unused_key(key):
            volumes[key] = str(value)
        elif is_drive_key(key) and not is_cdrom(str(value)):
            file = drive_file(str(value))
            if ":" in file:
                volumes[key] = file
    return volumes


def set_drive_file(value: str, file: str, **options: str) -> str:
    parts = parse_propstring(value, "file")
    parts["file"] = file
    parts.update(options)
    return format_propstring(parts, "file")


def render(conf: Config, pending: Config, pending_delete: dict[str, int]) -> str:
    """The config file text, as `PVE::QemuServer::write_vm_config` lays it out."""
    lines = _section(conf)
    if pending or pending_delete:
        lines += ["", "[PENDING]", *_section(pending)]
        if pending_delete:
            deletes = ",".join(
                ("!" if f == 2 else "") + k for k, f in sorted(pending_delete.items())
            )
            lines.append(f"delete: {deletes}")
    return "\n".join(lines) + "\n"


def _section(conf: Config) -> list[str]:
    description = str(conf.get("description", ""))
    lines = [f"#{line}" for line in description.split("\n")] if description else []
    lines += [f"{k}: {conf[k]}" for k in sorted(conf) if k != "description"]
    return lines


def digest(conf: Config, pending: Config, pending_delete: dict[str, int]) -> str:
    return hashlib.sha1(render(conf, pending, pending_delete).encode()).hexdigest()


def merged(conf: Config, pending: Config, pending_delete: dict[str, int]) -> Config:
    """The config with pending values applied (what `GET config` shows by default)."""
    result = {k: v for k, v in conf.items() if k not in pending_delete}
    result.update(pending)
    return result


def masked(conf: Config) -> dict[str, ConfigValue]:
    return {k: (MASKED if k == "cipassword" else v) for k, v in conf.items()}


def normalize(key: str, value: ConfigValue) -> ConfigValue:
    """PVE's write-time normalisations."""
    if key == "tags":
        return normalize_tags(str(value))
    if key == "description":
        return str(value).rstrip()
    return value


def normalize_tags(text: str) -> str:
    seen: list[str] = []
    for tag in sorted((t for t in re.split(r"[;,\s]+", text) if t), key=str.lower):
        if tag.lower() not in seen:
            seen.append(tag.lower())
    return ";".join(seen)


def random_mac(rng: random.Random) -> str:
    return MAC_PREFIX + "".join(f":{rng.randrange(256):02X}" for _ in range(3))


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def net_with_mac(value: str, rng: random.Random, *, fresh: bool = False) -> str:
    """Fill in (or with `fresh`, replace) the MAC of a `netX` property string."""
    parts = parse_propstring(value, "model")
    model = parts.pop("model", "")
    if model not in NET_MODELS:
        for candidate in NET_MODELS:
            if candidate in parts:
                model = candidate
                mac = parts.pop(candidate)
                break
        else:
            return value
    else:
        mac = parts.pop("macaddr", "")
    if fresh or not mac:
        mac = random_mac(rng)
    rest = format_propstring(parts)
    return f"{model}={mac.upper()}" + (f",{rest}" if rest else "")


def net_mac(value: str) -> str | None:
    parts = parse_propstring(value, "model")
    for model in NET_MODELS:
        if model in parts:
            return parts[model]
    return parts.get("macaddr")


def agent_enabled(conf: Config) -> bool:
    value = conf.get("agent")
    if value is None:
        return False
    return parse_propstring(str(value), "enabled").get("enabled", "0") == "1"


def memory_mib(conf: Config) -> int:
    value = conf.get("memory")
    if value is None:
        return 512
    return int(parse_propstring(str(value), "current").get("current", "512"))


def cpus(conf: Config) -> int:
    return int(conf.get("sockets", 1)) * int(conf.get("cores", 1))


def startup_order(conf: Config) -> tuple[int, int, int | None]:
    """(order, up delay, down timeout) from `startup`; missing order sorts last."""
    parts = parse_propstring(str(conf.get("startup", "")), "order")
    down = parts.get("down")
    return (
        int(parts.get("order", 1 << 30)),
        int(parts.get("up", 0)),
        int(down) if down is not None else None,
    )
