"""PVE's wire quirks as reusable pydantic field types, and the base of every parsed reply.

Used by ``proxmox_models`` and the sub-APIs (``proxmox_backups``, ``proxmox_tasks``,
``proxmox_pci``) to declare what they read from a reply's ``data``; the conversions
themselves are ``proxmox_wire``'s. PVE does not coerce its answers to its own schema
(reference §1.3): integers come as numbers or strings (``"cpus": "4"``), booleans as
``0``/``1``, optional keys are simply absent, lists are comma-separated strings and some
objects are property strings (``keep-daily=7,keep-weekly=4``). A field typed ``PveInt``
takes all of that; a value it cannot read (``null``, ``"n/a"``) leaves the field's default,
so an odd key never fails a whole resync, as the hand-written parsers before it did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, TypeAdapter
from pydantic_core import PydanticUseDefault

from homeport.clients.proxmox_wire import (
    as_float,
    as_int,
    as_str,
    parse_property_string,
    parse_tags,
    split_list,
    wire_bool,
    wire_float,
    wire_int,
)

T = TypeVar("T")


def _or_default(convert: Callable[[object], T | None]) -> BeforeValidator:
    """``convert``, or the field's default where it cannot read the value."""

    def validate(value: object) -> T:
        converted = convert(value)
        if converted is None:
            raise PydanticUseDefault()
        return converted

    return BeforeValidator(validate)


def _optional_int(value: object) -> int | None:
    return None if value is None else as_int(value)


def _optional_float(value: object) -> float | None:
    return None if value is None else as_float(value)


def _lock(value: object) -> str | None:
    return as_str(value) or None  # "lock": "" is no lock


def _present(value: object) -> bool:
    return value is not None


def _empty_if_null(value: object) -> object:
    return () if value is None else value


def _keep(value: object) -> dict[str, int]:
    """``prune-backups`` as an object (GET) or a property string (older servers) → ints."""
    if isinstance(value, str):
        value = parse_property_string(value)
    if not isinstance(value, Mapping):
        return {}
    return {str(k): as_int(v) for k, v in value.items()}


def _ids(value: object) -> tuple[int, ...]:
    return tuple(as_int(v) for v in split_list(as_str(value)))


def _settings(value: object) -> object:
    """A config-like reply without its ``digest`` and unset (``null``) keys."""
    if not isinstance(value, Mapping):
        return value
    return {k: v for k, v in value.items() if k != "digest" and v is not None}


def _floats(value: object) -> tuple[float, ...]:
    items = value if isinstance(value, list | tuple) else ()
    return tuple(as_float(v) for v in items)


PveInt = Annotated[int, _or_default(wire_int)]
"""An integer sent as a number or a numeric string."""
PveFloat = Annotated[float, _or_default(wire_float)]
PveBool = Annotated[bool, _or_default(wire_bool)]
"""A boolean sent as ``0``/``1`` (also ``"1"``, ``true``)."""
PveStr = Annotated[str, _or_default(as_str)]
"""Text; a number where text is declared is read as its text."""
PveText = Annotated[str | None, BeforeValidator(as_str)]
"""Optional text: ``None`` when absent."""
PveOptionalInt = Annotated[int | None, BeforeValidator(_optional_int)]
PveOptionalFloat = Annotated[float | None, BeforeValidator(_optional_float)]
PveLock = Annotated[str | None, BeforeValidator(_lock)]
PvePresent = Annotated[bool, BeforeValidator(_present)]
"""Whether the key is set at all (a replication job's ``pid`` while it runs)."""
PveTags = Annotated[tuple[str, ...], BeforeValidator(parse_tags)]
"""``"web;homeport"`` (also ``,`` or space separated) → sorted, unique."""
PveList = Annotated[tuple[str, ...], BeforeValidator(split_list)]
"""A comma-separated list (``"images,backup"``)."""
PveIdList = Annotated[tuple[int, ...], BeforeValidator(_ids)]
"""A comma-separated id list (``"100,101"``, a backup job's ``vmid``)."""
PveKeep = Annotated[dict[str, int], BeforeValidator(_keep)]
"""Retention (``prune-backups``): an object in GET, a property string in older servers."""
PveFloats = Annotated[tuple[float, ...], BeforeValidator(_floats)]
"""A list of numbers sent as strings (``loadavg``)."""
PveSettings = Annotated[dict[str, str | int | float], BeforeValidator(_settings)]
"""A config-like reply kept raw (property strings as strings) so callers diff its keys."""
NoneAsEmpty = BeforeValidator(_empty_if_null)
"""With a tuple of models: ``null`` is no items (``Annotated[tuple[M, ...], NoneAsEmpty]``)."""


class PveModel(BaseModel):
    """A parsed reply: frozen, unknown keys ignored (PVE adds keys between releases)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class PveItem(PveModel):
    """A reply (or one item of a list reply) that maps onto one model."""

    _list: ClassVar[TypeAdapter[list[Any]]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # Built once per model at import: a list reply is validated in one call.
        cls._list = TypeAdapter(list[cls])  # type: ignore[valid-type]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        return cls.model_validate(data)

    @classmethod
    def parse_list(cls, items: list[dict[str, Any]]) -> list[Self]:
        parsed: list[Self] = cls._list.validate_python(items)
        return parsed
