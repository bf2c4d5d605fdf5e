"""``TailscaleClient``: devices and auth keys through Tailscale's HTTP API (v2).

The VM reconciler finds a VM's device (its tailnet address is where SSH, probes and Caddy
upstreams dial), creates a one-off auth key for a new VM (a ``Secret``: it travels to the
guest through the Proxmox agent and is never logged or stored) and deletes the device
when the VM is pruned. Rate limits are undocumented: a 429 is retried after its
``Retry-After`` (seconds), 5xx and lost answers of reads and deletes with backoff; what
still fails is raised (``RateLimited``, ``TailscaleUnreachable``) for the queue to requeue.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from opentelemetry.trace import Tracer

from homeport.clients.callstats import CallStats
from homeport.clients.errors import (
    ClientError,
    RateLimited,
    TailscaleError,
    TailscaleUnreachable,
)
from homeport.clients.secret import Secret, read_secret_file
from homeport.clients.timing import RetryPolicy, Sleep, retrying
from homeport.clients.tracing import Attributes, ClientTracing

Method = Literal["GET", "POST", "DELETE"]
Json = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class TailscaleSettings:
    """Where the Tailscale API is and how homeport authenticates."""

    api_url: str = "https://api.tailscale.com"
    """API base URL (``/api/v2/...`` is appended)."""
    tailnet: str = "-"
    """Tailnet name; ``-`` is the token's default tailnet."""
    token_file: Path
    """File holding the API access token (``tskey-api-...``)."""
    ca_bundle: Path | None = None
    """CA bundle for the API's certificate (the system CAs when unset)."""
    timeout: float = 10.0
    """Seconds per request."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retries of 429s, 5xx and lost answers (see the module docstring for which)."""
    max_retry_after: float = 30.0
    """A 429 asking to wait longer than this is raised at once as ``RateLimited``."""


@dataclass(frozen=True)
class Device:
    """A tailnet device; ``connected`` is the API's ``connectedToControl`` (online)."""

    id: str
    node_id: str
    name: str
    hostname: str
    addresses: tuple[str, ...]
    tags: tuple[str, ...]
    os: str
    authorized: bool
    connected: bool
    last_seen: str | None
    created: str | None
    is_ephemeral: bool
    raw: Json = field(compare=False, repr=False)

    @property
    def ipv4(self) -> str | None:
        return next((a for a in self.addresses if "." in a), None)

    @property
    def ipv6(self) -> str | None:
        return next((a for a in self.addresses if ":" in a), None)

    @classmethod
    def parse(cls, data: Json) -> Device:
        return cls(
            id=str(data.get("id", "")),
            node_id=str(data.get("nodeId", "")),
            name=str(data.get("name", "")),
            hostname=str(data.get("hostname", "")),
            addresses=tuple(str(a) for a in data.get("addresses") or ()),
            tags=tuple(str(t) for t in data.get("tags") or ()),
            os=str(data.get("os", "")),
            authorized=bool(data.get("authorized", False)),
            connected=bool(data.get("connectedToControl", False)),
            last_seen=data.get("lastSeen") or None,
            created=data.get("created") or None,
            is_ephemeral=bool(data.get("isEphemeral", False)),
            raw=dict(data),
        )


@dataclass(frozen=True)
class AuthKey:
    """A new auth key; ``key`` is the secret, returned by the API this once only."""

    id: str
    key: Secret
    created: str | None
    expires: str | None
    description: str | None


class _Bearer(httpx.Auth):
    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "_Bearer(***)"


class TailscaleClient:
    """Device discovery, auth keys and device removal for one tailnet."""

    def __init__(
        self,
        settings: TailscaleSettings,
        *,
        tracer: Tracer | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.stats = CallStats()
        verify: bool | ssl.SSLContext = (
            ssl.create_default_context(cafile=str(settings.ca_bundle))
            if settings.ca_bundle
            else True
        )
        self._http = httpx.AsyncClient(
            base_url=settings.api_url.rstrip("/") + "/api/v2",
            auth=_Bearer(read_secret_file(settings.token_file)),
            timeout=settings.timeout,
            verify=verify,
            transport=transport,
            trust_env=False,
        )
        self._tracing = ClientTracing(tracer)
        self._sleep = sleep
        self._rng = rng or random.Random()

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> TailscaleClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- devices -------------------------------------------------------------------------

    async def devices(self, *, all_fields: bool = False) -> list[Device]:
        path = f"/tailnet/{self.settings.tailnet}/devices"
        data = await self._json("GET", path, "devices", params=_fields(all_fields))
        return [Device.parse(d) for d in data.get("devices") or [] if isinstance(d, dict)]

    async def device(self, device_id: str, *, all_fields: bool = False) -> Device | None:
        try:
            data = await self._json(
                "GET", f"/device/{device_id}", "device", params=_fields(all_fields)
            )
        except TailscaleError as exc:
            if exc.status == 404:
                return None
            raise
        return Device.parse(data)

    async def find_device(self, hostname: str) -> Device | None:
        """The device called ``hostname``; of several (a re-created VM), the online, newest."""
        matches = [d for d in await self.devices() if _named(d, hostname)]
        if not matches:
            return None
        return max(matches, key=lambda d: (d.connected, d.last_seen or "", d.created or ""))

    async def delete_device(self, device_id: str) -> bool:
        """Remove the device from the tailnet; ``False`` if it was already gone."""
        try:
            await self._call("DELETE", f"/device/{device_id}", "device")
        except TailscaleError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # --- auth keys -----------------------------------------------------------------------

    async def create_auth_key(
        self,
        *,
        reusable: bool = False,
        ephemeral: bool = False,
        preauthorized: bool = True,
        tags: Sequence[str] = (),
        expiry_seconds: int = 3600,
        description: str | None = None,
    ) -> AuthKey:
        """A new auth key for one VM to join the tailnet (tagged, pre-authorized)."""
        create: Json = {
            "reusable": reusable,
            "ephemeral": ephemeral,
            "preauthorized": preauthorized,
        }
        if tags:
            create["tags"] = list(tags)
        body: Json = {
            "capabilities": {"devices": {"create": create}},
            "expirySeconds": expiry_seconds,
        }
        if description:
            body["description"] = description[:50]
        path = f"/tailnet/{self.settings.tailnet}/keys"
        data = await self._json("POST", path, "keys", body=body)
        if not data.get("key"):
            raise TailscaleError(200, "auth key missing from the reply", operation="POST keys")
        return AuthKey(
            id=str(data.get("id", "")),
            key=Secret(str(data["key"])),
            created=data.get("created"),
            expires=data.get("expires"),
            description=data.get("description"),
        )

    # --- HTTP ----------------------------------------------------------------------------

    async def _json(
        self,
        method: Method,
        path: str,
        obj: str,
        *,
        params: dict[str, str] | None = None,
        body: Json | None = None,
    ) -> Json:
        response = await self._call(method, path, obj, params=params, body=body)
        try:
            data = response.json()
        except ValueError:
            raise TailscaleError(response.status_code, "reply is not JSON", operation=obj) from None
        if not isinstance(data, dict):
            raise TailscaleError(response.status_code, "reply is not an object", operation=obj)
        return data

    async def _call(
        self,
        method: Method,
        path: str,
        obj: str,
        *,
        params: dict[str, str] | None = None,
        body: Json | None = None,
    ) -> httpx.Response:
        operation = f"{method} {obj}"
        self.stats.record(operation, mutating=method != "GET")
        repeatable = method != "POST"

        def retry_delay(exc: ClientError) -> float | None:
            if isinstance(exc, RateLimited):
                after = exc.retry_after or 0.0
                return after if after <= self.settings.max_retry_after else None
            if isinstance(exc, TailscaleUnreachable):
                return 0.0 if repeatable or not exc.sent else None
            return None

        return await retrying(
            lambda: self._send(method, path, operation, params, body),
            policy=self.settings.retry,
            retry_delay=retry_delay,
            sleep=self._sleep,
            rng=self._rng,
            on_retry=lambda _exc: self.stats.record_retry(operation),
        )

    async def _send(
        self,
        method: Method,
        path: str,
        operation: str,
        params: dict[str, str] | None,
        body: Json | None,
    ) -> httpx.Response:
        url = self._http.base_url
        attributes: Attributes = {
            "http.request.method": method,
            "server.address": url.host,
            "server.port": url.port,
        }
        with self._tracing.span(f"tailscale {operation}", attributes) as span:
            try:
                response = await self._http.request(method, path, params=params, json=body)
            except httpx.ConnectError:
                # Never sent: safe to repeat even a POST.
                raise TailscaleUnreachable(
                    0, "cannot connect", operation=operation, sent=False
                ) from None
            except httpx.HTTPError as exc:
                raise TailscaleUnreachable(
                    0, f"answer lost ({type(exc).__name__})", operation=operation
                ) from None
            span.set("http.response.status_code", response.status_code)
        if response.status_code == 429:
            raise RateLimited(_retry_after(response), operation=operation)
        if response.status_code >= 500:
            raise TailscaleUnreachable(
                response.status_code, _message(response), operation=operation
            )
        if response.status_code >= 400:
            raise TailscaleError(response.status_code, _message(response), operation=operation)
        return response


def _fields(all_fields: bool) -> dict[str, str] | None:
    return {"fields": "all"} if all_fields else None


def _named(device: Device, hostname: str) -> bool:
    return device.hostname == hostname or device.name.split(".", 1)[0] == hostname


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:500]
    return response.reason_phrase or f"HTTP {response.status_code}"
