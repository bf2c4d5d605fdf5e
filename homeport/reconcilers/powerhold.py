"""Power holds: what a planned estate shutdown stopped, kept from reconciling until
``homeport estate start`` brings it back (the ``Estate/power`` reconciler,
``reconcilers/estate``, writes them: they are its memory).

One document in the store's durable memory, ``slots.ESTATE_HOLD``: ``held``
maps ``Kind/name`` to why it is held; ``released`` maps ``Kind/name`` to when the start
let it go. The engine skips held objects; a StandbyPair reads its own entries and its primary App's (through
``ctx.recall``) so that neither the planned outage nor the probe failures it left behind
ever start a failover, and answers the hold of its primary with a final sync. Shared by the controller and the reconcilers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def hold_key(kind: str, name: str) -> str:
    return f"{kind}/{name}"


def held(document: Mapping[str, Any], kind: str, name: str) -> str | None:
    """Why ``kind/name`` is held, or None."""
    value = (document.get("held") or {}).get(hold_key(kind, name))
    return str(value) if value else None


def released_at(document: Mapping[str, Any], kind: str, name: str) -> str | None:
    """When the last ``estate start`` released ``kind/name`` (ISO time), or None."""
    value = (document.get("released") or {}).get(hold_key(kind, name))
    return str(value) if value else None
