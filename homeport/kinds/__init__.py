"""The desired-state language: seven kinds, one module each, plus shared metadata and status.

``homeport.source`` parses manifests into these models; everything downstream (store,
reconcilers, CLI) speaks them. ``KINDS`` maps a kind name to its model.
"""

from __future__ import annotations

from homeport.kinds.agent import Agent
from homeport.kinds.app import App
from homeport.kinds.backuppolicy import BackupPolicy
from homeport.kinds.common import (
    API_VERSION,
    Condition,
    ObjectMeta,
    ObjectRef,
    ObjectStatus,
    Resource,
)
from homeport.kinds.machine import Machine
from homeport.kinds.proxyroute import ProxyRoute
from homeport.kinds.standbypair import StandbyPair
from homeport.kinds.vm import VM

AnyResource = Machine | VM | App | ProxyRoute | BackupPolicy | StandbyPair | Agent

# In dependency order: a kind only references kinds before it... except ProxyRoute, which
# may reference a StandbyPair; the dependency graph orders objects, not this tuple.
KIND_MODELS: tuple[type[Resource], ...] = (
    Machine,
    VM,
    App,
    StandbyPair,
    ProxyRoute,
    BackupPolicy,
    Agent,
)
KINDS: dict[str, type[Resource]] = {model.kind_name: model for model in KIND_MODELS}


def lookup_kind(text: str) -> type[Resource] | None:
    """Find a kind by name, plural or short name, case-insensitively (`vm`, `vms`, `pair`);
    a short name takes a plural too (`routes`, `pairs`), as people type it."""
    wanted = text.lower()
    for model in KIND_MODELS:
        names = {model.kind_name.lower(), model.plural, *model.short_names}
        if wanted in names or (wanted.endswith("s") and wanted[:-1] in names):
            return model
    return None


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
