"""The shared state's keyspace: rows to etcd keys and back; numbers sort in order."""

from __future__ import annotations

import pytest

from homeport.services.ha.keys import Keyspace

KEYS = Keyspace("homeport/")


@pytest.mark.parametrize(
    "row",
    [
        ("memory", "StandbyPair", "shop"),
        ("memory", "StandbyPair.request", "shop"),
        ("alloc", "vmid", "VM", "web-1"),
        ("journal", 3, 17),
        ("failover", "shop", 2),
        ("status", "App", "shop-a"),
        ("prune", "VM", "old"),
        ("source", "adopted"),
    ],
)
def test_rows_round_trip(row: tuple[str | int, ...]) -> None:
    key = KEYS.key(row)
    assert key.startswith("/homeport/")
    assert KEYS.parse(key) == row


def test_tokens_and_ids_sort_numerically() -> None:
    keys = [KEYS.key(("journal", t, i)) for t, i in [(9, 2), (10, 1), (9, 10), (113, 1)]]
    assert sorted(keys) == [keys[0], keys[2], keys[1], keys[3]]


def test_leader_and_planes_are_not_rows() -> None:
    assert KEYS.parse(KEYS.leader) is None
    assert KEYS.parse(KEYS.plane("cp1:1:ab")) is None
    assert KEYS.parse("/other/memory/VM/x") is None
    with pytest.raises(ValueError, match="cannot be part"):
        KEYS.key(("memory", "VM", "a/b"))
