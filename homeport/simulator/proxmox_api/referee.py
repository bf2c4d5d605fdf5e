"""PVE's own API schema as referee: would real Proxmox VE accept this request, and could it
have given this answer?

`ApiSchema.load` reads the vendor's machine-readable API description (`apidoc`:
`pve-apidata-9.1.json`, a tree of `{path, info: {GET: {parameters, returns}}, children}`),
independent of the simulator's own hand-written schemas; `check(exchange)` answers
`Violation`s for one `exchanges.Exchange`:

- the request: the path and method exist; no parameter the schema does not define (when it
  says `additionalProperties: 0`); every required one present; types as PVE's
  `JSONSchema::check_type` reads a form value (`boolean` takes 0/1/true/false/yes/no/on/off);
  `enum`, `minimum`/`maximum`, `minLength`/`maxLength`, `pattern`, `requires`; the string
  formats in `_FORMATS` (and their `-list` forms); property strings (a `format` that is a
  dict): every key known, each value checked like a parameter. Other named formats are not
  checked.
- the answer (2xx only): types and enums of `returns`, recursively, with required
  properties present. PVE's JSON is loosely typed, so a boolean may be 0/1 and an integer or
  number may come as a numeric string, as PVE does.

The test suite listens with it (`tests/conftest.py`); nothing here runs in production.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeport.simulator.propstring import parse_propstring
from homeport.simulator.proxmox_api.exchanges import Exchange

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LIST_SPLIT = re.compile(r"[,;\s\x00]+")
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?"


def _keys(*names: str) -> re.Pattern[str]:
    """A property string made only of `name=value` pairs with these names."""
    pair = rf"(?:{'|'.join(names)})=[^,]+"
    return re.compile(rf"{pair}(?:,{pair})*")


# PVE::JSONSchema's registered string formats, the cheap ones (regexes from its sources).
_FORMATS = {
    "pve-node": re.compile(_LABEL),
    "dns-name": re.compile(rf"{_LABEL}(?:\.{_LABEL})*"),
    "pve-storage-id": re.compile(r"[a-z][a-z0-9\-_.]*[a-z0-9]"),
    "pve-configid": re.compile(r"[a-z][a-z0-9_-]+", re.IGNORECASE),
    "pve-vmid": re.compile(r"[1-9][0-9]{2,8}"),
    "pve-poolid": re.compile(r"[A-Za-z0-9.\-_/]+"),
    "pve-bridge-id": re.compile(r"[-_.\w\d]+"),
    "pve-tag": re.compile(r"[a-z0-9_][a-z0-9_\-+.]*", re.IGNORECASE),
    "mac-addr": re.compile(r"[a-f0-9][02468ace](?::[a-f0-9]{2}){5}", re.IGNORECASE),
    "pve-replication-job-id": re.compile(r"[1-9][0-9]{2,8}-\d{1,9}"),
    "pve-ha-resource-or-vm-id": re.compile(r"(?:\w+:)?[1-9][0-9]{2,8}"),
    "pve-volume-id": re.compile(r"[a-z][a-z0-9\-_.]*[a-z0-9]:.+"),
    "pve-storage-content": re.compile(r"images|rootdir|vztmpl|iso|backup|snippets|import"),
    "pve-qm-ipconfig": _keys("ip", "gw", "ip6", "gw6"),
    "pve-startup-order": re.compile(r"(?:(?:order|up|down)=\d+|\d+)(?:,(?:order|up|down)=\d+)*"),
}


@dataclass(frozen=True)
class Violation:
    """One thing real PVE would refuse (`where` is a parameter) or never answer."""

    method: str
    path: str
    template: str
    where: str  # "parameter 'net0'", "returns.data[2].status", "path"
    problem: str  # what the schema's rule says, and what was there

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.template}): {self.where}: {self.problem}"


@dataclass(frozen=True)
class Endpoint:
    template: str
    info: Mapping[str, Any]  # method -> apidoc method description


@dataclass
class _Node:
    endpoint: Endpoint | None = None
    literal: dict[str, _Node] = field(default_factory=dict)
    variable: tuple[str, _Node] | None = None


class ApiSchema:
    def __init__(self, tree: list[dict[str, Any]]) -> None:
        self._root = _Node()
        for item in tree:
            self._add(item)

    @classmethod
    def load(cls, path: Path) -> ApiSchema:
        return cls(json.loads(path.read_text()))

    def _add(self, item: Mapping[str, Any]) -> None:
        node = self._root
        for segment in _segments(item["path"]):
            if segment.startswith("{"):
                if node.variable is None:
                    node.variable = (segment[1:-1], _Node())
                node = node.variable[1]
            else:
                node = node.literal.setdefault(segment, _Node())
        node.endpoint = Endpoint(item["path"], item.get("info", {}))
        for child in item.get("children", ()):
            self._add(child)

    def match(self, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        """The endpoint a concrete path names, with its path parameters."""
        return _match(self._root, _segments(path), {})

    def check(self, exchange: Exchange) -> list[Violation]:
        found = self.match(exchange.path)
        if found is None or exchange.method not in found[0].info:
            where = "path" if found is None else "method"
            template = "?" if found is None else found[0].template
            return [
                Violation(
                    exchange.method,
                    exchange.path,
                    template,
                    where,
                    "PVE 9.1 has no such endpoint (the request would be refused with 501)",
                )
            ]
        endpoint, path_params = found
        spec = endpoint.info[exchange.method]
        problems = list(_request(spec.get("parameters", {}), {**exchange.params, **path_params}))
        if 200 <= exchange.status < 300 and "returns" in spec:
            problems += _value(spec["returns"], exchange.data, "returns.data")
        return [
            Violation(exchange.method, exchange.path, endpoint.template, where, problem)
            for where, problem in problems
        ]


def _segments(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _match(
    node: _Node, rest: list[str], bound: dict[str, str]
) -> tuple[Endpoint, dict[str, str]] | None:
    if not rest:
        return None if node.endpoint is None else (node.endpoint, bound)
    head, tail = rest[0], rest[1:]
    if head in node.literal:
        found = _match(node.literal[head], tail, bound)
        if found is not None:
            return found
    if node.variable is None:
        return None
    name, child = node.variable
    found = _match(child, tail, {**bound, name: head})
    if (
        found is None
        and child.endpoint is not None
        and not child.literal
        and child.variable is None
    ):
        # The last parameter of a path takes the rest, slashes included (a volume id like
        # `local:backup/vzdump-qemu-100.vma.zst`): PVE's fragmentDelimiter.
        return child.endpoint, {**bound, name: "/".join(rest)}
    return found


Problem = tuple[str, str]


def _request(parameters: Mapping[str, Any], sent: Mapping[str, Any]) -> Iterator[Problem]:
    properties: Mapping[str, Any] = parameters.get("properties", {})
    closed = parameters.get("additionalProperties") == 0
    for name, value in sent.items():
        schema = _lookup(properties, name)
        where = f"parameter '{name}'"
        if schema is None:
            if closed:
                yield where, "not defined in the schema (PVE refuses unknown parameters)"
            continue
        yield from _value(schema, value, where, form=True)
        required = schema.get("requires")
        if isinstance(required, str) and required not in sent:
            yield where, f"requires parameter '{required}', which is missing"
    for name, schema in properties.items():
        if not schema.get("optional") and "[n]" not in name and name not in sent:
            yield f"parameter '{name}'", "missing, and the schema says it is not optional"


def _lookup(properties: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    if name in properties:
        found: Mapping[str, Any] = properties[name]
        return found
    indexed = re.fullmatch(r"([a-z_-]+?)(\d+)", name)
    if indexed is not None:
        return properties.get(f"{indexed.group(1)}[n]")
    return None


def _value(
    schema: Mapping[str, Any], value: Any, where: str, *, form: bool = False
) -> list[Problem]:
    """Problems of one value; `form` is a request parameter (PVE reads every value as text)."""
    kind = schema.get("type")
    if kind is None or kind == "any" or (value is None and not form and _nullable(schema)):
        return []
    if kind == "array":
        return _array(schema, value, where, form=form)
    if kind == "object":
        return _object(schema, value, where)
    if isinstance(value, (list, dict)) or value is None:
        return [(where, f"type is '{kind}', got {_shown(value)}")]
    if kind == "null":
        return [(where, f"type is 'null', got {_shown(value)}")]
    if kind == "boolean":
        return _boolean(value, where)
    if kind in ("integer", "number"):
        return _numeric(schema, kind, value, where)
    return _string(schema, value, where)


def _nullable(schema: Mapping[str, Any]) -> bool:
    # An optional member may be absent or JSON null in PVE's output alike.
    return bool(schema.get("optional")) or schema.get("type") == "null"


def _array(schema: Mapping[str, Any], value: Any, where: str, *, form: bool) -> list[Problem]:
    if form and not isinstance(value, list):
        value = [value]  # a single occurrence of a repeatable form parameter
    if not isinstance(value, list):
        return [(where, f"type is 'array', got {_shown(value)}")]
    items = schema.get("items")
    if not isinstance(items, Mapping):
        return []
    problems: list[Problem] = []
    for index, item in enumerate(value):
        problems += _value(items, item, f"{where}[{index}]", form=form)
    return problems


def _object(schema: Mapping[str, Any], value: Any, where: str) -> list[Problem]:
    if not isinstance(value, Mapping):
        return [(where, f"type is 'object', got {_shown(value)}")]
    problems: list[Problem] = []
    properties: Mapping[str, Any] = schema.get("properties") or {}
    for name, member in properties.items():
        if name in value:
            problems += _value(member, value[name], f"{where}.{name}")
        elif not member.get("optional") and "[n]" not in name:
            problems.append((f"{where}.{name}", "missing, and the schema says it is not optional"))
    return problems


def _boolean(value: Any, where: str) -> list[Problem]:
    text = str(int(value)) if isinstance(value, (bool, int)) else str(value).lower()
    if text in _TRUE | _FALSE:
        return []
    return [(where, f"type is 'boolean' (0/1), got {_shown(value)}")]


def _numeric(schema: Mapping[str, Any], kind: str, value: Any, where: str) -> list[Problem]:
    pattern = _INTEGER if kind == "integer" else _NUMBER
    if isinstance(value, bool) or (isinstance(value, float) and kind == "integer"):
        return [(where, f"type is '{kind}', got {_shown(value)}")]
    if not isinstance(value, (int, float)) and not pattern.fullmatch(str(value)):
        return [(where, f"type is '{kind}', got {_shown(value)}")]
    number = float(value)
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and number < float(low):
        return [(where, f"minimum is {low}, got {_shown(value)}")]
    if high is not None and number > float(high):
        return [(where, f"maximum is {high}, got {_shown(value)}")]
    return _enum(schema, str(value), where)


def _string(schema: Mapping[str, Any], value: Any, where: str) -> list[Problem]:
    if isinstance(value, bool):
        return [(where, f"type is 'string', got {_shown(value)}")]
    text = str(value)
    problems = _enum(schema, text, where)
    if "maxLength" in schema and len(text) > int(schema["maxLength"]):
        problems.append((where, f"maxLength is {schema['maxLength']}, got {len(text)} characters"))
    if "minLength" in schema and len(text) < int(schema["minLength"]):
        problems.append((where, f"minLength is {schema['minLength']}, got {len(text)} characters"))
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not _fullmatch(pattern, text):
        problems.append((where, f"pattern is /{pattern}/, got {_shown(value)}"))
    return problems + _format(schema, text, where)


def _enum(schema: Mapping[str, Any], text: str, where: str) -> list[Problem]:
    allowed = schema.get("enum")
    if allowed is None or text in [str(item) for item in allowed]:
        return []
    return [(where, f"enum is {list(allowed)}, got {text!r}")]


def _fullmatch(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return True  # a Perl-only construct: not checked


def _format(schema: Mapping[str, Any], text: str, where: str) -> list[Problem]:
    fmt = schema.get("format")
    if isinstance(fmt, Mapping):
        return _propstring(fmt, text, where)
    if not isinstance(fmt, str):
        return []
    base, is_list = (fmt[: -len("-list")], True) if fmt.endswith("-list") else (fmt, False)
    regex = _FORMATS.get(base)
    if regex is None:
        return []
    items = [item for item in _LIST_SPLIT.split(text) if item] if is_list else [text]
    bad = [item for item in items if not regex.fullmatch(item)]
    return [(where, f"format is '{fmt}', got {item!r}") for item in bad]


def _propstring(fmt: Mapping[str, Any], text: str, where: str) -> list[Problem]:
    """A property string (`virtio=BC:24:..,bridge=vmbr0`): keys known, values well typed."""
    default_key = next((k for k, v in fmt.items() if v.get("default_key")), None)
    try:
        parts = parse_propstring(text, default_key)
    except ValueError as err:
        return [(where, f"property string: {err}")]
    problems: list[Problem] = []
    for key, item in parts.items():
        spec = fmt.get(key)
        if spec is None:
            problems.append((where, f"property string has no key '{key}' in its format"))
            continue
        if "alias" in spec:  # `virtio=MAC` is `model=virtio,macaddr=MAC`
            spec = fmt.get(spec["alias"], {})
        problems += [(where, f"key '{key}': {p}") for _, p in _value(spec, item, where, form=True)]
    return problems


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
