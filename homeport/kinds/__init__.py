"""The desired-state language: seven kinds, one module each, plus shared metadata and status.

``homeport.source`` parses manifests into these models; everything downstream (store,
reconcilers, CLI) speaks them. ``KINDS`` maps a kind name to its model.

The shared parts (``common``: metadata, references, status) load with the package; the
seven kinds' modules on first use of a name that needs them (``KINDS``, ``VM``, ...), so
that ``homeport status``, which reads statuses and no manifest, never builds them
(PEP 562; ``homeport/kinds/names.py`` serves what only needs their names).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from homeport.kinds.common import (
    API_VERSION,
    Condition,
    ObjectMeta,
    ObjectRef,
    ObjectStatus,
    Resource,
)
from homeport.kinds.names import lookup_kind_name

if TYPE_CHECKING:
    from homeport.kinds.agent import Agent
    from homeport.kinds.app import App
    from homeport.kinds.backuppolicy import BackupPolicy
    from homeport.kinds.machine import Machine
    from homeport.kinds.proxyroute import ProxyRoute
    from homeport.kinds.standbypair import StandbyPair
    from homeport.kinds.vm import VM

    AnyResource = Machine | VM | App | ProxyRoute | BackupPolicy | StandbyPair | Agent
    # In dependency order: a kind only references kinds before it... except ProxyRoute,
    # which may reference a StandbyPair; the dependency graph orders objects, not this.
    KIND_MODELS: tuple[type[Resource], ...]
    KINDS: dict[str, type[Resource]]

# Each kind's model and the module it lives in, in KIND_MODELS's order.
_MODELS = {
    "Machine": "homeport.kinds.machine",
    "VM": "homeport.kinds.vm",
    "App": "homeport.kinds.app",
    "StandbyPair": "homeport.kinds.standbypair",
    "ProxyRoute": "homeport.kinds.proxyroute",
    "BackupPolicy": "homeport.kinds.backuppolicy",
    "Agent": "homeport.kinds.agent",
}


def __getattr__(name: str) -> Any:
    """The kinds' names, loaded on first use and then kept as the module's own."""
    if name in _MODELS:
        value: Any = getattr(importlib.import_module(_MODELS[name]), name)
    elif name == "KIND_MODELS":
        value = tuple(__getattr__(kind) for kind in _MODELS)
    elif name == "KINDS":
        value = {model.kind_name: model for model in __getattr__("KIND_MODELS")}
    elif name == "AnyResource":
        models = __getattr__("KIND_MODELS")
        value = models[0]
        for model in models[1:]:
            value = value | model
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def lookup_kind(text: str) -> type[Resource] | None:
    """Find a kind by name, plural or short name, case-insensitively (`vm`, `vms`, `pair`);
    a short name takes a plural too (`routes`, `pairs`), as people type it."""
    kind = lookup_kind_name(text)
    # Through __getattr__: a function's global lookup never reaches a module's __getattr__.
    return None if kind is None else __getattr__("KINDS")[kind]


__all__ = [
    "API_VERSION",
    "KINDS",
    "KIND_MODELS",
    "VM",
    "Agent",
    "AnyResource",
    "App",
    "BackupPolicy",
    "Condition",
    "Machine",
    "ObjectMeta",
    "ObjectRef",
    "ObjectStatus",
    "ProxyRoute",
    "Resource",
    "StandbyPair",
    "lookup_kind",
]
