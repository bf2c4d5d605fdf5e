"""Parameter schemas and `PVE::JSONSchema`-style checking, with PVE's error texts.

Every endpoint declares a `Schema` (`proxmox_api.schemas`, `pve.qemu_options`); the API
validates the merged query/body/path parameters against it before any handler runs, and a
bad one becomes `400 Parameter verification failed.` with one message per parameter.
Values come out typed: integers and booleans as `int`, numbers and strings as `str`,
arrays as `list[str]`. Format checks live in `formats`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from homeport.simulator.errors import ParamError
from homeport.simulator.formats import FORMATS

UNKNOWN = "property is not defined in schema and the schema does not allow additional properties"
MISSING = "property is missing and it is not optional"
REQUIRED_BY = "missing property - '{}' requires this property"
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Param:
    type: str = "string"  # string | integer | boolean | number | array
    optional: bool = True
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    format: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    requires: str | None = None  # another parameter that must be given with this one

    @property
    def required(self) -> Param:
        return replace(self, optional=False)


STRING = Param()
INTEGER = Param("integer")
BOOLEAN = Param("boolean")
NUMBER = Param("number")
ARRAY = Param("array")
NODE = Param(format="pve-node", optional=False)
VMID = Param("integer", optional=False, minimum=100, maximum=999999999)
OPT_VMID = replace(VMID, optional=True)


def enum(*values: str) -> Param:
    return Param(enum=values)


def fmt(name: str) -> Param:
    return Param(format=name)


@dataclass(frozen=True)
class Schema:
    params: dict[str, Param] = field(default_factory=dict)
    indexed: tuple[tuple[re.Pattern[str], Param], ...] = ()

    def lookup(self, name: str) -> Param | None:
        spec = self.params.get(name)
        if spec is not None:
            return spec
        for pattern, indexed in self.indexed:
            if pattern.match(name):
                return indexed
        return None

    def extend(self, params: dict[str, Param], indexed: Iterable[tuple[str, Param]] = ()) -> Schema:
        extra = tuple((re.compile(f"^(?:{p})$"), spec) for p, spec in indexed)
        return Schema({**self.params, **params}, self.indexed + extra)


def schema(*groups: dict[str, Param], **kwargs: Param) -> Schema:
    merged: dict[str, Param] = {}
    for group in groups:
        merged.update(group)
    return Schema({**merged, **kwargs})


def validate(spec: Schema, raw: dict[str, Any]) -> dict[str, Any]:
    """Typed parameters, or ParamError with PVE's per-parameter messages."""
    errors: dict[str, str] = {}
    result: dict[str, Any] = {}
    for name, value in raw.items():
        param = spec.lookup(name)
        if param is None:
            errors[name] = UNKNOWN
            continue
        try:
            result[name] = check(param, value)
        except ValueError as err:
            errors[name] = str(err)
    for name, param in spec.params.items():
        if not param.optional and name not in raw:
            errors[name] = MISSING
        if param.requires is not None and name in raw and param.requires not in raw:
            errors.setdefault(param.requires, REQUIRED_BY.format(name))
    if errors:
        raise ParamError(errors)
    return result


def check(param: Param, value: Any) -> Any:
    if param.type == "array":
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if isinstance(value, (list, dict)):
        raise ValueError(f"type check ('{param.type}') failed - got ARRAY")
    if param.type == "boolean":
        return _boolean(value)
    if param.type == "integer":
        number = _integer(value)
        _range(param, number)
        return number
    if param.type == "number":
        text = _number(value)
        _range(param, float(text))
        return text
    return _string(param, value)


def _boolean(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    text = str(value)
    if text not in ("0", "1"):
        raise ValueError(f"type check ('boolean') failed - got '{text}'")
    return int(text)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not _INTEGER.match(str(value)):
        raise ValueError(f"type check ('integer') failed - got '{value}'")
    return int(str(value))


def _number(value: Any) -> str:
    if isinstance(value, bool) or not _NUMBER.match(str(value)):
        raise ValueError(f"type check ('number') failed - got '{value}'")
    return str(value)


def _range(param: Param, number: float) -> None:
    if param.minimum is not None and number < param.minimum:
        raise ValueError(f"value must have a minimum value of {_num(param.minimum)}")
    if param.maximum is not None and number > param.maximum:
        raise ValueError(f"value must have a maximum value of {_num(param.maximum)}")


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _string(param: Param, value: Any) -> str:
    text = str(value)
    if param.max_length is not None and len(text) > param.max_length:
        raise ValueError(f"value may only be {param.max_length} characters long")
    if param.enum is not None and text not in param.enum:
        raise ValueError(
            f"value '{text}' does not have a value in the enumeration '{', '.join(param.enum)}'"
        )
    if param.format is not None:
        try:
            FORMATS[param.format](text)
        except ValueError as err:
            raise ValueError(f"invalid format - {err}\n") from err
    if param.pattern is not None and not re.fullmatch(param.pattern, text):
        raise ValueError("value does not match the regex pattern")
    return text
