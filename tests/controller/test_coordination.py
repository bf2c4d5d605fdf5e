"""The local lease: a late background renewal is not a change of leader.

The renewal task shares the event loop with every reconcile; on a busy machine it can run
seconds late. The engine then asks the leadership to confirm before it acts, and a lease
that is still ours is renewed there instead of being reported as lost (the flake that
printed "lost leadership before acting; another daemon acts now" with a single daemon).
"""

from __future__ import annotations

from pathlib import Path

from homeport.controller.clock import FakeClock
from homeport.controller.coordination import LEASE_NAME, LocalLeadership
from homeport.controller.store import Store


def leadership(tmp_path: Path, clock: FakeClock, name: str = "cp1") -> LocalLeadership:
    store = Store.open(tmp_path / "store.db")
    return LocalLeadership(store, clock, holder=name, duration=6.0, renew_interval=2.0)


async def test_a_late_renewal_is_made_up_before_acting(tmp_path: Path) -> None:
    clock = FakeClock()
    lead = leadership(tmp_path, clock)
    assert lead.try_once() and lead.is_leader()
    token = lead.token()
    clock.advance(4.5)  # past the margin, before the lease ends: the renewal is late
    assert not lead.is_leader()
    assert await lead.confirm()
    assert lead.is_leader() and lead.token() == token  # the same term, renewed
    lease = lead.store.leases.current(LEASE_NAME)
    assert lease is not None and lease.expires == clock.now().timestamp() + 6.0


async def test_an_expired_lease_is_not_taken_back_on_the_way_to_an_action(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    lead = leadership(tmp_path, clock)
    assert lead.try_once()
    clock.advance(6.5)  # expired: another daemon may have acted meanwhile
    assert not await lead.confirm()
    lease = lead.store.leases.current(LEASE_NAME)
    assert lease is not None and lease.expires < clock.now().timestamp()  # not renewed


async def test_a_lease_another_daemon_holds_is_not_confirmed(tmp_path: Path) -> None:
    clock = FakeClock()
    first = leadership(tmp_path, clock, "cp1")
    assert first.try_once()
    clock.advance(4.5)
    # Another daemon took the lease over (e.g. the store was restored or edited by hand).
    first.store.leases.release(LEASE_NAME, first.holder)
    other = leadership(tmp_path, clock, "cp2")
    assert other.try_once()
    assert not await first.confirm()
    assert await other.confirm()
