"""PVE's named string formats (`dns-name`, `urlencoded`, `pve-tag-list`, property strings).

Each check raises ValueError with the text PVE puts after `invalid format - `. Used by
`schema.check`; the property-string checks reuse `propstring` and `calendar_event`.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable

from homeport.simulator.calendar_event import CalendarError, parse_calendar_event
from homeport.simulator.propstring import parse_keep_options, parse_propstring, parse_size

_DNS_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?"
_DNS_NAME = re.compile(rf"^{_DNS_LABEL}(?:\.{_DNS_LABEL})*$")
_NODE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?$")
_STORAGE_ID = re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$")
_URLENCODED = re.compile(r"^[-%a-zA-Z0-9_.!~*'()]*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_\-+.]*$")
_CONFIGID = re.compile(r"^[a-z][a-z0-9_\-]*[a-z0-9]$", re.IGNORECASE)
_MAC = re.compile(r"^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$")
_SSH_KEY = re.compile(r"^(?:[\w,=\"\- ]+ )?(ssh-|ecdsa-|sk-)[\w@.\-]+ [A-Za-z0-9+/=]+( .*)?$")
_DRIVE_KEYS = {
    "file",
    "aio",
    "backup",
    "cache",
    "discard",
    "format",
    "import-from",
    "iothread",
    "media",
    "replicate",
    "ro",
    "serial",
    "shared",
    "size",
    "snapshot",
    "ssd",
    "wwn",
    "detect_zeroes",
    "cyls",
    "heads",
    "secs",
    "trans",
    "werror",
    "rerror",
    "queues",
    "iops",
    "mbps",
}
_NET_KEYS = {
    "model",
    "macaddr",
    "bridge",
    "firewall",
    "link_down",
    "mtu",
    "queues",
    "rate",
    "tag",
    "trunks",
}
_NET_MODELS = {"e1000", "e1000e", "rtl8139", "virtio", "vmxnet3", "ne2k_pci", "pcnet", "i82551"}


def dns_name(value: str) -> None:
    if not _DNS_NAME.match(value):
        raise ValueError("value does not look like a valid DNS name")


def pve_node(value: str) -> None:
    if not _NODE.match(value):
        raise ValueError("value does not look like a valid node name")


def storage_id(value: str) -> None:
    if not _STORAGE_ID.match(value):
        raise ValueError(f"storage ID '{value}' contains illegal characters")


def vmid_list(value: str) -> None:
    for item in re.split(r"[,;\s]+", value.strip()):
        if not item.isdigit() or not 100 <= int(item) <= 999999999:
            raise ValueError(f"value '{item}' does not look like a valid VMID")


def urlencoded(value: str) -> None:
    if not _URLENCODED.match(value):
        raise ValueError(f"invalid urlencoded string: {value}")


def ssh_keys(value: str) -> None:
    """The `sshkeys` value: urlencoded, then every non-comment line a public key."""
    urlencoded(value)
    for line in urllib.parse.unquote(value).splitlines():
        if line.strip() and not line.lstrip().startswith("#") and not _SSH_KEY.match(line.strip()):
            raise ValueError("SSH public key validation error")


def tag_list(value: str) -> None:
    for tag in re.split(r"[;,\s]+", value):
        if tag and not _TAG.match(tag):
            raise ValueError(f"invalid characters in tag '{tag}'")


def configid(value: str) -> None:
    if not _CONFIGID.match(value):
        raise ValueError(f"invalid configuration ID '{value}'")


def configid_list(value: str) -> None:
    for item in re.split(r"[,;\s]+", value.strip()):
        if item:
            configid(item)


def calendar_event(value: str) -> None:
    try:
        parse_calendar_event(value)
    except CalendarError as err:
        raise ValueError(str(err).removeprefix("unable to parse calendar event - ")) from err


def prune_backups(value: str) -> None:
    parse_keep_options(value)


def startup(value: str) -> None:
    parts = parse_propstring(value, "order")
    for key, item in parts.items():
        if key not in ("order", "up", "down") or not item.isdigit():
            raise ValueError("unable to parse startup options")


def ipconfig(value: str) -> None:
    parts = parse_propstring(value)
    for key, item in parts.items():
        if key == "ip" and item != "dhcp":
            _cidr(item, 4)
        elif key == "ip6" and item not in ("dhcp", "auto"):
            _cidr(item, 6)
        elif key in ("gw", "gw6"):
            _address(item, 4 if key == "gw" else 6)
        elif key not in ("ip", "ip6"):
            raise ValueError(f"invalid key in comma-separated list property: {key}")


def _cidr(value: str, version: int) -> None:
    try:
        network = ipaddress.ip_interface(value)
    except ValueError as err:
        raise ValueError(f"invalid IPv{version} address with CIDR: {value}") from err
    if network.version != version or "/" not in value:
        raise ValueError(f"invalid IPv{version} address with CIDR: {value}")


def _address(value: str, version: int) -> None:
    try:
        if ipaddress.ip_address(value).version == version:
            return
    except ValueError:
        pass
    raise ValueError(f"invalid IPv{version} address: {value}")


def drive(value: str) -> None:
    parts = parse_propstring(value, "file")
    for key in parts:
        if key not in _DRIVE_KEYS:
            raise ValueError(f"invalid key in comma-separated list property: {key}")
    if "file" not in parts:
        raise ValueError("missing property - 'file'")
    if parts.get("media", "disk") not in ("disk", "cdrom"):
        raise ValueError(
            f"media: value '{parts['media']}' does not have a value in the enumeration 'cdrom, disk'"
        )
    if "size" in parts:
        parse_size(parts["size"])


def net(value: str) -> None:
    parts = parse_propstring(value, "model")
    model_keys = [k for k in parts if k in _NET_MODELS]
    if "model" in parts and parts["model"] not in _NET_MODELS:
        raise ValueError(f"model: value '{parts['model']}' is not a valid network model")
    for key, item in parts.items():
        if key in _NET_MODELS:
            if item and not _MAC.match(item):
                raise ValueError(
                    f"{key}: invalid format - value does not look like a valid MAC address"
                )
        elif key not in _NET_KEYS:
            raise ValueError(f"invalid key in comma-separated list property: {key}")
    if "model" not in parts and not model_keys:
        raise ValueError("missing property - 'model'")


def agent(value: str) -> None:
    parts = parse_propstring(value, "enabled")
    for key, item in parts.items():
        if key in (
            "enabled",
            "fstrim_cloned_disks",
            "freeze-fs-on-backup",
            "freeze-fs",
        ) and item not in ("0", "1"):
            raise ValueError(f"{key}: type check ('boolean') failed - got '{item}'")
        if key not in (
            "enabled",
            "fstrim_cloned_disks",
            "freeze-fs-on-backup",
            "freeze-fs",
            "type",
        ):
            raise ValueError(f"invalid key in comma-separated list property: {key}")


def memory(value: str) -> None:
    parts = parse_propstring(value, "current")
    if set(parts) - {"current"} or not parts.get("current", "").isdigit():
        raise ValueError(
            f"current: type check ('integer') failed - got '{parts.get('current', '')}'"
        )


def ha_sid(value: str) -> None:
    if not re.match(r"^(?:(?:vm|ct):)?\d+$", value):
        raise ValueError(f"unable to parse HA resource ID '{value}'")


def _any(value: str) -> None:
    return None


def _wrap(check: Callable[[str], None]) -> Callable[[str], None]:
    def wrapped(value: str) -> None:
        try:
            check(value)
        except ValueError:
            raise
        except Exception as err:  # property-string parse errors
            raise ValueError(str(err)) from err

    return wrapped


FORMATS: dict[str, Callable[[str], None]] = {
    name: _wrap(check)
    for name, check in {
        "dns-name": dns_name,
        "pve-node": pve_node,
        "pve-storage-id": storage_id,
        "pve-vmid-list": vmid_list,
        "urlencoded": urlencoded,
        "pve-tag-list": tag_list,
        "pve-configid": configid,
        "pve-configid-list": configid_list,
        "pve-calendar-event": calendar_event,
        "prune-backups": prune_backups,
        "pve-startup-order": startup,
        "pve-qm-ipconfig": ipconfig,
        "pve-qm-drive": drive,
        "pve-qm-net": net,
        "pve-qm-agent": agent,
        "pve-qm-memory": memory,
        "pve-ha-resource-or-vm-id": ha_sid,
        "any": _any,
    }.items()
}
