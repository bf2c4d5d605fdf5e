"""What ``homeport status`` shows of the control planes with the etcd backend, read live.

Asked of etcd directly, with the config's endpoints and credentials and short timeouts:
each member's health (its own ``/v3/maintenance/status``, so a member answers even when
the cluster has lost quorum), who leads and with which fencing token, and the control
planes whose daemons hold a lease. Reads are serializable (a member's own copy), so the
answer comes even without quorum — and then says that no control plane acts, and why.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from homeport.clients.etcd import EtcdError, EtcdSyncClient
from homeport.controller.config import CoordinationSettings
from homeport.services.ha.keys import Keyspace
from homeport.services.ha.planes import etcd_settings


def coordination_document(
    coordination: CoordinationSettings, *, timeout: float = 1.0
) -> dict[str, Any]:
    client_settings = replace(
        etcd_settings(coordination), timeout=min(timeout, coordination.timeout)
    )
    client = EtcdSyncClient(client_settings)
    keys = Keyspace(coordination.prefix)
    try:
        members = _members(client, list(coordination.endpoints))
        healthy = [m for m in members if m["healthy"]]
        quorum = len(healthy) > len(members) / 2 and any(m.get("leader") for m in healthy)
        answering = [m for m in members if "error" not in m]
        document: dict[str, Any] = {
            "backend": "etcd",
            "members": members,
            "quorum": quorum,
            "leader": None,
            "planes": [],
            "leaseSeconds": coordination.lease_duration,
            "renewSeconds": coordination.renew_interval,
        }
        if answering:
            document.update(_leader_and_planes(client, keys))
        document["problem"] = _problem(members, quorum, document["leader"])
        return document
    finally:
        client.close()


def _members(client: EtcdSyncClient, endpoints: list[str]) -> list[dict[str, Any]]:
    try:
        listed = client.members()
        urls = [(m.get("name") or "?", (m.get("clientURLs") or ["?"])[0]) for m in listed]
    except EtcdError:
        urls = [(url, url) for url in endpoints]
    members = []
    for name, url in urls:
        try:
            status = client.status(url)
        except EtcdError as exc:
            members.append({"name": name, "url": url, "healthy": False, "error": str(exc)[:200]})
            continue
        member_id = status.get("header", {}).get("member_id")
        members.append(
            {
                "name": name,
                "url": url,
                "healthy": bool(status.get("leader")) and status.get("leader") != "0",
                "leader": status.get("leader") == member_id,
                "version": status.get("version"),
                "dbSize": int(status.get("dbSize", 0)),
                "raftTerm": int(status.get("raftTerm", 0)),
            }
        )
    return members


def _leader_and_planes(client: EtcdSyncClient, keys: Keyspace) -> dict[str, Any]:
    try:
        leader, _ = client.range(keys.leader, serializable=True)
        planes, _ = client.range(keys.planes, prefix=True, serializable=True)
    except EtcdError:
        return {}
    found: dict[str, Any] = {
        "planes": sorted(str((kv.json() or {}).get("holder", "")) for kv in planes)
    }
    if leader:
        found["leader"] = {
            "holder": str((leader[0].json() or {}).get("holder", "")),
            "token": leader[0].create_revision,
        }
    return found


def _problem(members: list[dict[str, Any]], quorum: bool, leader: Any) -> str | None:
    answering = sum(1 for m in members if "error" not in m)
    if not quorum:
        return (
            f"etcd has no quorum ({answering} of {len(members)} members answer, none with a "
            "raft leader): no control plane acts until a majority of members is back"
        )
    if leader is None:
        return "no control plane leads right now (a take-over may be under way)"
    return None
