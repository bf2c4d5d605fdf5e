"""Building the daemon's clients and reconcilers from the settings.

The one place that knows which client serves which protocol and which reconciler serves
which kind; ``homeport run``, ``homeport plan`` and the demo use it.
"""

from __future__ import annotations

from typing import Any

from homeport.controller.config import Settings
from homeport.reconcilers.base import Reconciler


async def build_clients(settings: Settings) -> dict[str, Any]:
    """Clients for every configured protocol (filled in as the clients land)."""
    return {}


def build_reconcilers(settings: Settings) -> dict[str, Reconciler[Any, Any]]:
    """One reconciler per kind (filled in as the reconcilers land)."""
    return {}
