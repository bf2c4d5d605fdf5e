"""The tailnet's records: devices and auth keys, and their JSON as Tailscale API v2 shows it.

``tailnet.Tailnet`` keeps and persists them; ``api.py`` renders them. Field names and
shapes follow the official Go client (``tailscale-client-go-v2`` devices.go, keys.go) as
summarised in ``shared/reference/caddy-tailscale-systemd-otel-watchfiles.md`` section 2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

CLIENT_VERSION = "1.76.6-t1234abcd-g5678ef01"
NODE_KEY_EXPIRY = 180 * 86400  # Tailscale's default device key expiry
DEFAULT_KEY_EXPIRY = 90 * 86400


def rfc3339(timestamp: float | None) -> str:
    if timestamp is None:
        return "0001-01-01T00:00:00Z"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


@dataclass
class AuthKey:
    id: str
    secret_sha256: str
    created: float
    expires: float
    reusable: bool
    ephemeral: bool
    preauthorized: bool
    tags: list[str]
    description: str = ""
    used: bool = False
    revoked: float | None = None

    def valid(self, now: float) -> bool:
        return self.revoked is None and now < self.expires and (self.reusable or not self.used)

    def document(self, now: float, secret: str | None = None) -> dict[str, object]:
        doc: dict[str, object] = {
            "id": self.id,
            "keyType": "auth",
            "description": self.description,
            "created": rfc3339(self.created),
            "expires": rfc3339(self.expires),
            "invalid": not self.valid(now),
            "capabilities": {
                "devices": {
                    "create": {
                        "reusable": self.reusable,
                        "ephemeral": self.ephemeral,
                        "preauthorized": self.preauthorized,
                        "tags": list(self.tags),
                    }
                }
            },
        }
        if self.revoked is not None:
            doc["revoked"] = rfc3339(self.revoked)
        if secret is not None:
            doc["key"] = secret
        return doc


@dataclass
class Device:
    id: str
    node_id: str
    hostname: str
    addresses: list[str]
    tags: list[str]
    created: float
    expires: float
    ephemeral: bool
    authorized: bool
    machine_key: str
    node_key: str
    user: str
    connected: bool = False
    last_seen: float | None = None
    key_expiry_disabled: bool = False
    os: str = "linux"
    extra: dict[str, object] = field(default_factory=dict)

    def document(self, tailnet_dns: str, *, all_fields: bool) -> dict[str, object]:
        doc: dict[str, object] = {
            "addresses": list(self.addresses),
            "authorized": self.authorized,
            "blocksIncomingConnections": False,
            "clientVersion": CLIENT_VERSION,
            "connectedToControl": self.connected,
            "created": rfc3339(self.created),
            "expires": "0001-01-01T00:00:00Z" if self.key_expiry_disabled else rfc3339(
                self.expires
            ),
            "hostname": self.hostname,
            "id": self.id,
            "isEphemeral": self.ephemeral,
            "isExternal": False,
            "keyExpiryDisabled": self.key_expiry_disabled,
            "machineKey": self.machine_key,
            "name": f"{self.hostname}.{tailnet_dns}",
            "nodeId": self.node_id,
            "nodeKey": self.node_key,
            "os": self.os,
            "tailnetLockError": "",
            "tailnetLockKey": "",
            "updateAvailable": False,
            "user": self.user,
        }  # fmt: skip
        if self.tags:
            doc["tags"] = list(self.tags)
        if not self.connected:
            doc["lastSeen"] = rfc3339(self.last_seen)
        if all_fields:
            doc["enabledRoutes"] = []
            doc["advertisedRoutes"] = []
            doc["clientConnectivity"] = {
                "endpoints": [f"{self.addresses[0]}:41641"],
                "derp": "",
                "mappingVariesByDestIP": False,
                "latency": {},
                "clientSupports": {
                    "hairPinning": False,
                    "ipv6": False,
                    "pcp": False,
                    "pmp": False,
                    "udp": True,
                    "upnp": False,
                },
            }
            doc["sshEnabled"] = False
            doc["distro"] = {"name": "ubuntu", "version": "24.04", "codeName": "noble"}
        return doc


def tailscale_ipv6(ipv4: str) -> str:
    """A stable ULA address in Tailscale's range for a guest's IPv4 address."""
    a, b, c, d = (int(x) for x in ipv4.split("."))
    return f"fd7a:115c:a1e0::{(a << 8) | b:x}:{(c << 8) | d:x}"
