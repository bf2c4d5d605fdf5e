"""The routes this daemon wrote since the window's shared read of Caddy's route servers.

After writing a route, the ProxyRoute reconciler reads that route back (``GET /id/...``,
which it does anyway to verify the write) and notes it; every route's look then uses the
window's shared read with the notes taken after it began in place of its entries. Dropping
the shared read after every write instead made each route written cost a read of every
route of the estate (an O(estate) read per action). Same ordering as the cluster list's
notes (``reconcilers/cluster.py``): ``freshlook.began``.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.clients.caddy_config import Exposure, Json, RoutesSeen
from homeport.reconcilers.freshlook import Notes


@dataclass(frozen=True)
class RoutesRead:
    """One shared read of the route servers, and when it began."""

    seen: RoutesSeen
    began: int


class WrittenRoutes:
    def __init__(self) -> None:
        self._notes: Notes[str, tuple[Exposure | None, Json | None]] = Notes()

    def note(self, route_id: str, exposure: Exposure | None, route: Json | None) -> None:
        """``route_id`` now runs as ``route`` in ``exposure``'s server only (None: in none).
        Taken once the write was read back, so it is no older than what it says."""
        self._notes.note(route_id, (exposure, route))

    def forget(self, route_id: str) -> None:
        self._notes.forget(route_id)

    def over(self, read: RoutesRead) -> RoutesSeen:
        """``read`` with the notes taken after it began in place of its entries; older
        notes are dropped (the read has caught up)."""
        newer = self._notes.since(read.began)
        if not newer:
            return read.seen
        routes: dict[Exposure, tuple[Json, ...]] = {}
        for exposure, listed in read.seen.routes.items():
            kept = tuple(r for r in listed if r.get("@id") not in newer)
            written = tuple(
                route for where, route in newer.values() if where == exposure and route is not None
            )
            routes[exposure] = kept + written
        return RoutesSeen(routes, read.seen.elsewhere)

    def __len__(self) -> int:
        return len(self._notes)
