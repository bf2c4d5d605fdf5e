"""The store's write-through to etcd: every shared row, fenced by the leader's token.

A daemon's writes carry a compare on the leader key's create revision (the fencing token):
etcd applies them only while that key — created when this daemon won — still exists, so
a leader that was paused or cut off past its lease cannot write once another has taken
over, whatever its own clock says. It also refuses locally as soon as this daemon's lease
is within one renew interval of expiring (``EtcdLeadership.fencing_token``). The CLI's
operator writes (approvals, suspensions, failover requests) are not fenced: they are
requests to whichever daemon leads.

Errors reach the engine as ``TemporaryError``s: the action is not taken, the object retried.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from homeport.clients.etcd import (
    EtcdError,
    EtcdSyncClient,
    compare_created,
    delete_op,
    put_op,
)
from homeport.controller.store.replica import SharedKey
from homeport.reconcilers.errors import TemporaryError
from homeport.services.ha.keys import Keyspace

log = logging.getLogger(__name__)
WRITTEN_KEPT = 20_000


class FencedOut(TemporaryError):
    """This daemon does not lead (any more): a shared write, and the action behind it, refused."""

    def __init__(self, message: str) -> None:
        super().__init__(message, delay=1.0, reason="NotLeader")


class SharedStateUnavailable(TemporaryError):
    """etcd did not take a shared write (members down, no quorum): nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, delay=1.0, reason="CoordinationUnavailable")


class Fence(Protocol):
    def fencing_token(self) -> int | None:
        """The token while this daemon holds the leader lease (self-fenced), else None."""
        ...


class EtcdReplica:
    """Implements the store's ``Replica`` against etcd (see ``store/replica.py``)."""

    def __init__(self, client: EtcdSyncClient, keys: Keyspace, fence: Fence | None) -> None:
        self.client = client
        self.keys = keys
        self.fence = fence
        """None: operator writes, not fenced (the CLI)."""
        self.written: dict[str, int] = {}
        """etcd key → revision of this process's last write of it (so that the watch never
        brings back an older value over a newer local one)."""

    def put(self, key: SharedKey, value: Any, *, required: bool = True) -> None:
        target = self.keys.key(key)
        self._write(target, put_op(target, value), required=required)

    def delete(self, key: SharedKey, *, required: bool = True) -> None:
        target = self.keys.key(key)
        self._write(target, delete_op(target), required=required)

    def _write(self, target: str, operation: dict[str, Any], *, required: bool) -> None:
        try:
            revision = self._commit(operation)
            self.written.pop(target, None)  # to the end: the most recent writes are kept
            self.written[target] = revision
            if len(self.written) > WRITTEN_KEPT:  # old writes are long past any watch event
                for key in list(self.written)[: WRITTEN_KEPT // 2]:
                    del self.written[key]
        except (FencedOut, SharedStateUnavailable) as exc:
            if required:
                raise
            log.debug("shared write of %s skipped: %s", target, exc)

    def _commit(self, operation: dict[str, Any]) -> int:
        compare = []
        if self.fence is not None:
            token = self.fence.fencing_token()
            if token is None:
                raise FencedOut("this daemon does not hold the leader lease; it does not act")
            compare = [compare_created(self.keys.leader, token)]
        try:
            result = self.client.txn(compare, [operation])
        except EtcdError as exc:
            raise SharedStateUnavailable(f"etcd did not take the write: {exc}") from None
        if not result.succeeded:
            raise FencedOut(
                f"fencing token {compare and compare[0]['create_revision']} is no longer the "
                "leader's: another control plane leads now"
            )
        return result.revision
