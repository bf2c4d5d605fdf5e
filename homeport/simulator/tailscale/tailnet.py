"""``Tailnet``: the simulated tailnet — its devices, auth keys and control-plane API.

Guests join through ``join()`` when ``tailscale up --auth-key=...`` runs inside them
(``guest/commands/tailscale.py``, via the ``guest.tailnet_link.TailnetControl`` protocol,
which this class satisfies) and report connectivity with ``set_connected()``; Proxmox
nodes are registered with ``register_node()``. The HTTP API lives in ``api.py``. State is
persisted as JSON in ``<state>/tailnet.json``; auth-key secrets are kept only as hashes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import socket
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from aiohttp import web

from homeport.simulator.guest.tailnet_link import JoinRefused, TailnetDevice
from homeport.simulator.listeners import close_runner, serve_runner

from .api import build_app
from .model import DEFAULT_KEY_EXPIRY, NODE_KEY_EXPIRY, AuthKey, Device, tailscale_ipv6
from .ratelimit import RateLimiter

TAG = re.compile(r"^tag:[a-zA-Z][a-zA-Z0-9-]*$")
EPHEMERAL_TIMEOUT = 300.0  # offline ephemeral devices disappear after this long
SAVE_DELAY = 0.25
"""Seconds (wall) a change waits for others to share its write of ``tailnet.json``."""
ALPHABET = "0123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"


class Tailnet:
    def __init__(
        self,
        *,
        state_dir: Path,
        seed: int,
        clock: Callable[[], float],
        tailnet: str = "homeport.example",
        magic_dns_suffix: str = "tail5e1f.ts.net",
        api_token: str | None = None,
        allowed_tags: frozenset[str] | None = None,
        device_approval: bool = False,
        rate_limit: tuple[int, float] | None = None,
    ) -> None:
        """``rate_limit=(requests, per_seconds)`` per token enables 429s (off by default);
        ``allowed_tags=None`` accepts any well-formed tag (no ACL ``tagOwners``)."""
        self._clock = clock
        self._rng = random.Random(f"tailnet:{seed}")
        self.tailnet = tailnet
        self.magic_dns_suffix = magic_dns_suffix
        self.api_token = api_token or "tskey-api-" + self._token(24)
        self.allowed_tags = allowed_tags
        self.device_approval = device_approval
        self.limiter = RateLimiter(rate_limit)
        self.forced_retry_after: float | None = None
        self._path = state_dir / "tailnet.json"
        self.devices: dict[str, Device] = {}
        self.keys: dict[str, AuthKey] = {}
        self._next_id = 50000
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self._save_soon: asyncio.TimerHandle | None = None
        self.url = ""
        self._load()

    # ---- lifecycle --------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the API over plain HTTP; ``self.url`` is its base (``http://host:port``)."""
        self._runner = web.AppRunner(build_app(self), access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        self._sock = await serve_runner(self._runner, host, port)
        bound = self._sock.getsockname()
        self.url = f"http://{bound[0]}:{bound[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await close_runner(self._runner, self._sock)
            self._runner, self._sock = None, None
        if self._save_soon is not None:
            self._save_soon.cancel()
            self._save_soon = None
        await asyncio.to_thread(self._save)

    def now(self) -> float:
        return self._clock()

    # ---- persistence ------------------------------------------------------------------

    def _load(self) -> None:
        if not self._path.exists():
            return
        raw = json.loads(self._path.read_text())
        self.devices = {d["node_id"]: Device(**d) for d in raw["devices"]}
        self.keys = {k["id"]: AuthKey(**k) for k in raw["keys"]}
        self._next_id = raw["next_id"]
        self.api_token = raw.get("api_token", self.api_token)
        self._rng.setstate(_rng_state(raw["rng"]))

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "devices": [asdict(d) for d in self.devices.values()],
            "keys": [asdict(k) for k in self.keys.values()],
            "next_id": self._next_id,
            "api_token": self.api_token,
            "rng": _jsonable(self._rng.getstate()),
        }
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document))
        tmp.replace(self._path)

    def changed(self) -> None:
        """Save the tailnet within ``SAVE_DELAY`` (at once outside an event loop). The file
        holds every device, so a write per change made joining N devices cost N²: at 2000
        devices one write took 47 ms, and the 5000-object benchmark's simulator spent most
        of its CPU rewriting this file. Changes close together share one write; ``stop``
        writes what is left."""
        if self._save_soon is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._save()
            return
        self._save_soon = loop.call_later(SAVE_DELAY, self._save_now)

    def _save_now(self) -> None:
        self._save_soon = None
        self._save()

    # ---- ids and secrets --------------------------------------------------------------

    def _token(self, length: int) -> str:
        return "".join(self._rng.choice(ALPHABET) for _ in range(length))

    def _ids(self) -> tuple[str, str]:
        self._next_id += 1 + self._rng.randrange(97)
        return str(self._next_id), "n" + self._token(8) + "CNTRL"

    # ---- auth keys --------------------------------------------------------------------

    def create_key(
        self,
        *,
        reusable: bool,
        ephemeral: bool,
        preauthorized: bool,
        tags: list[str],
        expiry_seconds: float | None,
        description: str,
    ) -> tuple[AuthKey, str]:
        key_id = "k" + self._token(8) + "CNTRL"
        secret = f"tskey-auth-{key_id}-{self._token(32)}"
        now = self.now()
        key = AuthKey(
            id=key_id,
            secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
            created=now,
            expires=now + (expiry_seconds or DEFAULT_KEY_EXPIRY),
            reusable=reusable,
            ephemeral=ephemeral,
            preauthorized=preauthorized,
            tags=tags,
            description=description,
        )
        self.keys[key_id] = key
        self.changed()
        return key, secret

    def invalid_tags(self, tags: list[str]) -> list[str]:
        return [
            t
            for t in tags
            if not TAG.match(t) or (self.allowed_tags is not None and t not in self.allowed_tags)
        ]

    def _key_for_secret(self, secret: str) -> AuthKey | None:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        return next((k for k in self.keys.values() if k.secret_sha256 == digest), None)

    # ---- devices (the TailnetControl protocol) ----------------------------------------

    def join(
        self, *, auth_key: str, hostname: str, address: str, advertise_tags: tuple[str, ...]
    ) -> TailnetDevice:
        key = self._key_for_secret(auth_key)
        now = self.now()
        if key is None or not key.valid(now):
            raise JoinRefused("invalid key: unable to validate API key")
        bad = [t for t in advertise_tags if key.tags and t not in key.tags]
        if bad:
            raise JoinRefused(f"requested tags [{' '.join(bad)}] are invalid or not permitted")
        key.used = True
        device = self._add_device(
            hostname=hostname,
            address=address,
            tags=list(key.tags),
            ephemeral=key.ephemeral,
            authorized=key.preauthorized or not self.device_approval,
            user="tagged-devices" if key.tags else "homeport@example.com",
        )
        return self._view(device)

    def register_node(self, name: str, address: str, *, tags: list[str] | None = None) -> str:
        """A Proxmox host on the tailnet (connected until told otherwise); returns nodeId."""
        existing = next((d for d in self.devices.values() if d.addresses[0] == address), None)
        if existing is not None:
            self.set_connected(existing.node_id, True)
            return existing.node_id
        device = self._add_device(
            hostname=name,
            address=address,
            tags=list(tags or []),
            ephemeral=False,
            authorized=True,
            user="tagged-devices" if tags else "homeport@example.com",
        )
        self.set_connected(device.node_id, True)
        return device.node_id

    def _add_device(
        self, *, hostname: str, address: str, tags: list[str], ephemeral: bool, authorized: bool,
        user: str,
    ) -> Device:  # fmt: skip
        legacy_id, node_id = self._ids()
        now = self.now()
        taken = {d.hostname for d in self.devices.values()}
        name, suffix = hostname, 1
        while name in taken:  # MagicDNS de-duplicates names like "web-1-1"
            name, suffix = f"{hostname}-{suffix}", suffix + 1
        device = Device(
            id=legacy_id,
            node_id=node_id,
            hostname=name,
            addresses=[address, tailscale_ipv6(address)],
            tags=tags,
            created=now,
            expires=now + NODE_KEY_EXPIRY,
            ephemeral=ephemeral,
            authorized=authorized,
            machine_key="mkey:" + self._hex(64),
            node_key="nodekey:" + self._hex(64),
            user=user,
            last_seen=now,
        )
        self.devices[node_id] = device
        self.changed()
        return device

    def _hex(self, length: int) -> str:
        return "".join(self._rng.choice("0123456789abcdef") for _ in range(length))

    def device(self, node_id: str) -> TailnetDevice | None:
        self.expire_ephemeral()
        found = self.devices.get(node_id)
        return None if found is None else self._view(found)

    def set_connected(self, node_id: str, connected: bool) -> None:
        device = self.devices.get(node_id)
        if device is None or device.connected == connected:
            return
        device.connected = connected
        device.last_seen = self.now()
        self.changed()

    def find(self, device_id: str) -> Device | None:
        """By nodeId (preferred) or legacy numeric id."""
        self.expire_ephemeral()
        if device_id in self.devices:
            return self.devices[device_id]
        return next((d for d in self.devices.values() if d.id == device_id), None)

    def expire_ephemeral(self) -> None:
        now = self.now()
        gone = [
            n
            for n, d in self.devices.items()
            if d.ephemeral
            and not d.connected
            and d.last_seen is not None
            and now - d.last_seen > EPHEMERAL_TIMEOUT
        ]
        for node_id in gone:
            del self.devices[node_id]
        if gone:
            self.changed()

    def _view(self, device: Device) -> TailnetDevice:
        return TailnetDevice(
            node_id=device.node_id,
            hostname=device.hostname,
            dns_name=f"{device.hostname}.{self.magic_dns_suffix}",
            addresses=tuple(device.addresses),
            tags=tuple(device.tags),
            tailnet=self.tailnet,
            magic_dns_suffix=self.magic_dns_suffix,
        )

    # ---- faults -----------------------------------------------------------------------

    def throttle(self, retry_after: float | None = 30.0) -> None:
        """Every API request gets 429 with ``Retry-After`` until ``throttle(None)``."""
        self.forced_retry_after = retry_after


def _jsonable(state: object) -> object:
    if isinstance(state, tuple):
        return [_jsonable(x) for x in state]
    return state


def _rng_state(raw: object) -> tuple[object, ...]:
    assert isinstance(raw, list)
    return tuple(tuple(x) if isinstance(x, list) else x for x in raw)
