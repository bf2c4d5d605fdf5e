"""PVE's own API schema (``pve-apidata-9.1.json``) as the referee of the reply fixtures.

``tests/clients/fixtures/pve/*.json`` hold replies as real PVE 8/9 sends them;
``test_proxmox_fixtures`` checks each one with ``problems`` against the ``returns`` schema
of its endpoint, kept in ``fixtures/pve/apidata-returns.json`` (``extract_returns`` cuts it
from the vendor file; a test keeps the two in step when the vendor file is at hand).

The check follows the wire, not the letter of the schema, because PVE does not coerce its
answers (reference §1.3): a ``boolean`` may be 0/1 (or "0"/"1"), an ``integer`` or
``number`` may be a numeric string. Everything else is strict: enums, minimum/maximum,
required keys, the keys and value types inside property strings (``net0``, ``scsi0``,
``memory``), and undeclared keys, except those ``UNDECLARED`` lists where PVE is known to
send more than its schema declares.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "pve"
RETURNS = FIXTURES / "apidata-returns.json"

Schema = Mapping[str, Any]

_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_PROPERTY_BOOLEANS = {"0", "1", "on", "off", "yes", "no", "true", "false"}
_NUMBERED = re.compile(r"^(?P<prefix>[a-z]+)\d+$")

UNDECLARED: dict[str, frozenset[str]] = {
    # Keys of nested objects are dotted (``cpuinfo.mhz``).
    # extract_node_stats adds these to every entry; the schema lists only some (§4).
    "GET /nodes": frozenset({"id", "type", "disk", "maxdisk"}),
    # Nodes.pm copies the whole cpuinfo; the schema lists four of its keys (§4).
    "GET /nodes/{node}/status": frozenset(
        {"cpuinfo.mhz", "cpuinfo.hvm", "cpuinfo.user_hz", "cpuinfo.flags"}
    ),
    # A task started with an API token names it apart from the user (§6.2).
    "GET /nodes/{node}/tasks/{upid}/status": frozenset({"tokenid"}),
    # Storage/Plugin.pm list_volumes returns the content type and the guest type (§7.2).
    "GET /nodes/{node}/storage/{storage}/content": frozenset({"content", "subtype"}),
    # The list returns each job's config plus its state; the schema declares only `id` (§8).
    "GET /nodes/{node}/replication": frozenset(
        {
            "type", "guest", "jobnum", "target", "schedule", "source", "vmtype", "comment",
            "rate", "disable", "remove_job", "last_sync", "last_try", "next_sync", "duration",
            "fail_count", "error", "pid",
        }
    ),
    # resources.cfg sections; the schema declares only `sid` (§9.1).
    "GET /cluster/ha/resources": frozenset(
        {"type", "state", "group", "max_restart", "max_relocate", "failback", "comment", "digest"}
    ),
    # Every options reply and every rule carries the file's digest (§10).
    "GET /nodes/{node}/qemu/{vmid}/firewall/options": frozenset({"digest"}),
    "GET /nodes/{node}/qemu/{vmid}/firewall/rules": frozenset({"digest"}),
    "GET /cluster/firewall/options": frozenset({"digest"}),
    "GET /nodes/{node}/firewall/options": frozenset({"digest"}),
    # The task list entries; the schema declares only `upid` (§6.4).
    "GET /cluster/tasks": frozenset(
        {"node", "pid", "pstart", "starttime", "endtime", "type", "id", "user", "status", "saved"}
    ),
    # Jobs.pm adds the job type to every vzdump job (§7.4).
    "GET /cluster/backup": frozenset({"type"}),
    "GET /cluster/backup/{id}": frozenset({"type"}),
}  # fmt: skip

TEXT_AS_NUMBER: dict[str, frozenset[str]] = {
    # The pending list hands config values through as they are: `cores` is a number (§5.5).
    "GET /nodes/{node}/qemu/{vmid}/pending": frozenset({"value", "pending"}),
}


def load_returns() -> dict[str, Schema]:
    returns: dict[str, Schema] = json.loads(RETURNS.read_text())["returns"]
    return returns


def extract_returns(
    apidata: Iterable[Mapping[str, Any]], endpoints: Iterable[str]
) -> dict[str, Any]:
    """The ``returns`` of ``endpoints`` (``"GET /cluster/resources"``) from PVE's apidata,
    without the prose (descriptions) that the check does not read."""
    paths: dict[str, Mapping[str, Any]] = {}

    def walk(nodes: Iterable[Mapping[str, Any]]) -> None:
        for node in nodes:
            paths[node["path"]] = node
            walk(node.get("children", ()))

    walk(apidata)
    found: dict[str, Any] = {}
    for endpoint in sorted(endpoints):
        method, path = endpoint.split(" ", 1)
        found[endpoint] = _without_prose(paths[path]["info"][method]["returns"])
    return {"source": "pve-apidata-9.1.json (pve-docs api-viewer)", "returns": found}


_PROSE = ("description", "verbose_description", "print_width", "renderer")


def _without_prose(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_prose(v) for k, v in value.items() if isinstance(v, dict) or k not in _PROSE
        }
    if isinstance(value, list):
        return [_without_prose(v) for v in value]
    return value


def problems(endpoint: str, data: Any, schema: Schema) -> list[str]:
    """Where ``data`` (a reply's ``data``) does not follow ``schema``; empty when it does."""
    leeway = Leeway(UNDECLARED.get(endpoint, _NONE), TEXT_AS_NUMBER.get(endpoint, _NONE))
    return _check(data, schema, "data", leeway)


@dataclass(frozen=True)
class Leeway:
    """What an endpoint's reply may do beyond its schema, for the keys of its objects."""

    undeclared: frozenset[str] = frozenset()
    text_as_number: frozenset[str] = frozenset()

    def inside(self, key: str) -> Leeway:
        """The leeway of the object under ``key`` (its dotted undeclared keys)."""
        prefix = f"{key}."
        nested = {k.removeprefix(prefix) for k in self.undeclared if k.startswith(prefix)}
        return Leeway(frozenset(nested)) if nested else _STRICT


_NONE: frozenset[str] = frozenset()
_STRICT = Leeway()


def _check(value: Any, schema: Schema, where: str, leeway: Leeway = _STRICT) -> list[str]:
    kind = schema.get("type", "any")
    if value is None:
        return [] if kind in ("null", "any") or schema.get("optional") else [f"{where}: null"]
    found = _type_problem(value, kind, where)
    if found:
        return [found]
    if kind == "array":
        items = schema.get("items", {})
        return [p for i, v in enumerate(value) for p in _check(v, items, f"{where}[{i}]", leeway)]
    if kind == "object":
        return _check_object(value, schema, where, leeway)
    return _check_scalar(value, schema, where)


def _type_problem(value: Any, kind: str, where: str) -> str | None:
    ok = {
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: v in (0, 1, True, False) or v in ("0", "1"),
        "integer": lambda v: (
            (isinstance(v, int) and not isinstance(v, bool))
            or (isinstance(v, str) and bool(_INTEGER.match(v)))
        ),
        "number": lambda v: (
            (isinstance(v, int | float) and not isinstance(v, bool))
            or (isinstance(v, str) and bool(_NUMBER.match(v)))
        ),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "any": lambda v: True,
    }
    check = ok.get(kind)
    if check is None:
        return f"{where}: the schema's type {kind!r} is unknown to this check"
    return None if check(value) else f"{where}: {value!r} is not a PVE {kind}"


def _check_object(
    value: Mapping[str, Any], schema: Schema, where: str, leeway: Leeway
) -> list[str]:
    declared: Mapping[str, Schema] = schema.get("properties", {})
    if not declared:
        return []  # the schema leaves this object opaque: nothing to hold it to
    found = [
        f"{where}.{key}: required by the schema, missing"
        for key, sub in declared.items()
        if not sub.get("optional") and "[n]" not in key and key not in value
    ]
    for key, item in value.items():
        sub = _property(declared, key)
        if sub is None:
            if key not in leeway.undeclared and not schema.get("additionalProperties"):
                found.append(f"{where}.{key}: not declared by the schema")
            continue
        if key in leeway.text_as_number and isinstance(item, int | float):
            sub = {**sub, "type": "number"}
        found += _check(item, sub, f"{where}.{key}", leeway.inside(key))
    return found


def _property(declared: Mapping[str, Schema], key: str) -> Schema | None:
    """``net0`` is declared as ``net[n]``."""
    if key in declared:
        return declared[key]
    numbered = _NUMBERED.match(key)
    return declared.get(f"{numbered['prefix']}[n]") if numbered else None


def _check_scalar(value: Any, schema: Schema, where: str) -> list[str]:
    found: list[str] = []
    enum = schema.get("enum")
    if enum is not None and value not in enum and str(value) not in enum:
        found.append(f"{where}: {value!r} is not one of {enum}")
    if schema.get("type") in ("integer", "number"):
        number = float(value)
        if "minimum" in schema and number < float(schema["minimum"]):
            found.append(f"{where}: {value!r} is below the minimum {schema['minimum']}")
        if "maximum" in schema and number > float(schema["maximum"]):
            found.append(f"{where}: {value!r} is above the maximum {schema['maximum']}")
    fmt = schema.get("format")
    if isinstance(fmt, dict) and isinstance(value, str):
        found += _check_property_string(value, fmt, where)
    return found


def _check_property_string(text: str, fmt: Mapping[str, Schema], where: str) -> list[str]:
    """``virtio=BC:24:11:..,bridge=vmbr0,firewall=1`` against its format: known keys, a bare
    first item for the ``default_key``, ``virtio=<mac>`` for ``keyAlias`` keys, typed values."""
    default_key = next((k for k, s in fmt.items() if s.get("default_key")), None)
    found: list[str] = []
    for index, item in enumerate(p for p in text.split(",") if p):
        key, sep, raw = item.partition("=")
        if not sep:
            key, raw = (default_key, item) if index == 0 and default_key else (key, "")
        sub = fmt.get(key or "")
        if sub is None:
            found.append(f"{where}: {key!r} is not a key of this property string")
            continue
        if "keyAlias" in sub:  # net0's "virtio=<mac>": model virtio, macaddr <mac>
            found += _check_property_value(key or "", fmt[sub["keyAlias"]], f"{where}.{key}")
            sub = fmt[sub["alias"]]
        elif "alias" in sub:
            sub = fmt[sub["alias"]]
        found += _check_property_value(raw, sub, f"{where}.{key}")
    return found


def _check_property_value(raw: str, schema: Schema, where: str) -> list[str]:
    kind = schema.get("type")
    if kind == "boolean":
        ok = raw.lower() in _PROPERTY_BOOLEANS
        return [] if ok else [f"{where}: {raw!r} is not a property-string boolean"]
    return _check(raw, schema, where)
