"""Where the shared state lives in etcd: every key under one prefix per estate.

``<prefix>/leader`` (attached to the leader's lease; its create revision is the fencing
token), ``<prefix>/planes/<holder>`` (one per running daemon, on its own lease) and the
store's shared rows as ``<prefix>/<table>/<part>/...``: ``memory/<kind>/<name>``,
``alloc/<pool>/<kind>/<name>``, ``journal/<token>/<seq>``, ``failover/<pair>/<epoch>``,
``status/<kind>/<name>``, ``prune/<kind>/<name>``, ``source/adopted``, ``source/approvals``,
``source/reverify``.
Numbers are zero-padded so that keys sort in order. ``store/replica.py`` names rows as
tuples (``SharedKey``); this module turns them into etcd keys and back.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeport.controller.store.replica import SharedKey

_NUMERIC = {"journal": (0, 1), "failover": (1,)}


@dataclass(frozen=True)
class Keyspace:
    prefix: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", "/" + self.prefix.strip("/"))

    @property
    def root(self) -> str:
        """Every key of this estate starts with this (the watch and the snapshot range)."""
        return f"{self.prefix}/"

    @property
    def leader(self) -> str:
        return f"{self.prefix}/leader"

    @property
    def planes(self) -> str:
        return f"{self.prefix}/planes/"

    def plane(self, holder: str) -> str:
        return f"{self.planes}{holder}"

    def table(self, table: str) -> str:
        return f"{self.prefix}/{table}/"

    def key(self, shared: SharedKey) -> str:
        table, *parts = shared
        numeric = _NUMERIC.get(str(table), ())
        text = [f"{int(p):020d}" if i in numeric else _safe(str(p)) for i, p in enumerate(parts)]
        return "/".join([self.prefix, str(table), *text])

    def parse(self, key: str) -> SharedKey | None:
        """The row a key holds, or None for keys that are not store rows (leader, planes)."""
        if not key.startswith(self.root):
            return None
        table, *parts = key[len(self.root) :].split("/")
        if table in ("leader", "planes") or not parts:
            return None
        numeric = _NUMERIC.get(table, ())
        return (table, *(int(p) if i in numeric else p for i, p in enumerate(parts)))


def _safe(part: str) -> str:
    if not part or "/" in part:
        raise ValueError(f"{part!r} cannot be part of an etcd key")
    return part
