"""Storage replication jobs (``/cluster/replication``) and their per-node state.

Used by the StandbyPair reconciler for a pair that sets ``replication.storage`` (a pair's
own replication is rsync, VM to VM): the job list (shared), the pair's one ``local`` job
from the primary's VM to the standby's node (create, update, delete), and that job's state
(last sync, failures), which the pair's status shows. State is node-local: ask the node
the guest runs on (reference §8). ``states`` and ``schedule_now`` have no caller in
homeport yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from homeport.clients.errors import NotFound
from homeport.clients.proxmox_models import ReplicationJob, ReplicationState
from homeport.clients.proxmox_transport import ProxmoxTransport, expect_dict, expect_list
from homeport.clients.proxmox_wire import ParamValue


class ProxmoxReplication:
    """Replication job CRUD and status."""

    def __init__(self, transport: ProxmoxTransport) -> None:
        self._transport = transport

    async def jobs(self) -> list[ReplicationJob]:
        data = await self._transport.read("replication.list", ("cluster", "replication"))
        return ReplicationJob.parse_list(expect_list(data, "replication.list"))

    async def create_job(
        self,
        job_id: str,
        *,
        target: str,
        schedule: str | None = None,
        rate: float | None = None,
        comment: str | None = None,
        disable: bool | None = None,
    ) -> None:
        """Create job ``<vmid>-<n>`` replicating to ``target`` (type ``local``)."""
        params: dict[str, ParamValue] = {
            "id": job_id,
            "type": "local",
            "target": target,
            "schedule": schedule,
            "rate": rate,
            "comment": comment,
            "disable": disable,
        }
        await self._transport.write(
            "POST", "replication.create", ("cluster", "replication"), params
        )

    async def update_job(
        self,
        job_id: str,
        *,
        schedule: str | None = None,
        rate: float | None = None,
        comment: str | None = None,
        disable: bool | None = None,
        delete: Sequence[str] = (),
    ) -> None:
        params: dict[str, ParamValue] = {
            "schedule": schedule,
            "rate": rate,
            "comment": comment,
            "disable": disable,
            "delete": ",".join(delete) if delete else None,
        }
        await self._transport.write(
            "PUT",
            "replication.update",
            ("cluster", "replication", job_id),
            params,
            idempotent=True,
        )

    async def delete_job(self, job_id: str, *, keep: bool = False, force: bool = False) -> bool:
        """Mark the job for removal; ``False`` if it did not exist."""
        try:
            await self._transport.write(
                "DELETE",
                "replication.delete",
                ("cluster", "replication", job_id),
                {"keep": keep or None, "force": force or None},
                idempotent=True,
            )
        except NotFound:
            return False
        return True

    async def states(self, node: str, *, guest: int | None = None) -> list[ReplicationState]:
        data = await self._transport.read(
            "replication.states", ("nodes", node, "replication"), {"guest": guest}, node=node
        )
        return ReplicationState.parse_list(expect_list(data, "replication.states"))

    async def state(self, node: str, job_id: str) -> ReplicationState | None:
        try:
            data = await self._transport.read(
                "replication.status", ("nodes", node, "replication", job_id, "status"), node=node
            )
        except NotFound:
            return None
        return ReplicationState.parse(expect_dict(data, "replication.status"))

    async def schedule_now(self, node: str, job_id: str) -> None:
        await self._transport.write(
            "POST",
            "replication.schedule_now",
            ("nodes", node, "replication", job_id, "schedule_now"),
            node=node,
            idempotent=True,
        )
