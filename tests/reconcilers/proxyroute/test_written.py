"""``proxyroute/written.py``: a route written and read back stands in for its entry in the
window's shared read of Caddy's route servers until a read that began after it; unit
tests, no sockets."""

from __future__ import annotations

from homeport.clients.caddy_config import Json, RoutesSeen
from homeport.reconcilers.freshlook import began
from homeport.reconcilers.proxyroute.written import RoutesRead, WrittenRoutes


def route(rid: str, host: str) -> Json:
    return {"@id": rid, "match": [{"host": [host]}], "handle": []}


def read(*public: Json, tailnet: tuple[Json, ...] = ()) -> RoutesRead:
    return RoutesRead(RoutesSeen({"public": tuple(public), "tailnet": tailnet}), began())


def test_a_written_route_replaces_or_joins_the_read() -> None:
    before = read(route("a", "a.example.com"), route("b", "b.example.com"))
    written = WrittenRoutes()
    written.note("a", "public", route("a", "new.example.com"))
    written.note("c", "tailnet", route("c", "c.example.com"))
    seen = written.over(before)
    assert seen.route("a") == route("a", "new.example.com")
    assert seen.route("b") == route("b", "b.example.com")
    assert (seen.exposure("c"), seen.route("c")) == ("tailnet", route("c", "c.example.com"))
    assert len(written) == 2


def test_a_moved_or_deleted_route_leaves_its_old_server() -> None:
    before = read(route("a", "a.example.com"), route("b", "b.example.com"))
    written = WrittenRoutes()
    written.note("a", "tailnet", route("a", "a.example.com"))
    written.note("b", None, None)
    seen = written.over(before)
    assert seen.exposure("a") == "tailnet"
    assert [r["@id"] for r in seen.routes["public"]] == []
    assert seen.route("b") is None


def test_a_read_that_began_after_the_notes_drops_them() -> None:
    written = WrittenRoutes()
    written.note("a", "public", route("a", "new.example.com"))
    after = read(route("a", "edited-by-hand.example.com"))
    assert written.over(after).route("a") == route("a", "edited-by-hand.example.com")
    assert len(written) == 0
