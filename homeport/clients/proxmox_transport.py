"""The one place Proxmox calls go through: proxmoxer off the event loop, bounded, retried.

``proxmox``, ``proxmox_tasks``, ``proxmox_agent``, ``proxmox_backups``,
``proxmox_replication`` and ``proxmox_firewall`` call ``read``/``write`` here; below is
proxmoxer's HTTPS backend (token auth, TLS verified against the CA bundle). proxmoxer is
synchronous, so each call runs in a worker thread behind a semaphore. Reads, and writes
that never reached the server, are retried with backoff; a mutating call whose answer was
lost raises ``OutcomeUnknown`` unless the caller declared it idempotent. Every call is
counted in ``CallStats`` and traced as ``proxmox {METHOD} {operation}``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

import requests
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException
from requests.adapters import HTTPAdapter

from homeport.clients.callstats import CallStats
from homeport.clients.errors import ClientError, Locked, OutcomeUnknown, ProxmoxError, Unreachable
from homeport.clients.proxmox_errors import from_requests_exception, from_resource_exception
from homeport.clients.proxmox_settings import ProxmoxSettings
from homeport.clients.proxmox_wire import ParamValue, WireValue, encode_params
from homeport.clients.secret import Secret, read_secret_file
from homeport.clients.timing import Sleep, retrying
from homeport.clients.tracing import AttributeValue, ClientTracing

Method = Literal["GET", "POST", "PUT", "DELETE"]


class _WarningsOnly(logging.Filter):
    """proxmoxer logs request bodies (passwords, agent file contents) at INFO and replies at
    DEBUG; whatever level an operator configures, only its warnings get through."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


logging.getLogger("proxmoxer.core").addFilter(_WarningsOnly())
PathPart = str | int
ApiFactory = Callable[[ProxmoxSettings, Secret], Any]
"""Builds the proxmoxer API object; tests substitute nothing here but the server."""


def build_proxmoxer(settings: ProxmoxSettings, token: Secret) -> Any:
    """proxmoxer's HTTPS backend with token auth and TLS verified against the CA bundle."""
    verify: str | bool = True
    if settings.ca_bundle is not None:
        if not settings.ca_bundle.is_file():
            raise ValueError(f"Proxmox CA bundle {settings.ca_bundle} does not exist")
        verify = str(settings.ca_bundle)
    else:
        # What requests would take from the environment on each call (trust_env, below).
        verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    api = ProxmoxAPI(
        settings.host,
        port=settings.port,
        user=settings.user,
        token_name=settings.token_name,
        token_value=token.reveal(),
        verify_ssl=verify,
        timeout=settings.timeout,
        service="PVE",
    )
    session = api._store["session"]
    if settings.max_concurrency > 10:
        # requests keeps 10 connections per host by default; match the concurrency.
        adapter = HTTPAdapter(pool_maxsize=settings.max_concurrency)
        session.mount("https://", adapter)
    # requests reads the environment's proxy variables again on every call (a scan of
    # os.environ: a sixth of a call's CPU). A process's environment stays as it started:
    # they are read once, here, for this one server, as requests would read them.
    session.proxies = requests.utils.get_environ_proxies(f"https://{settings.host}:{settings.port}")
    session.trust_env = False
    return api


def _segment(part: PathPart) -> str:
    text = str(part)
    # Volume ids ("local:backup/vzdump-...") contain "/": one path segment, encoded.
    return quote(text, safe="") if any(c in text for c in "/?#% ") else text


class ProxmoxTransport:
    """Runs typed calls against one Proxmox API with concurrency, retries, stats and spans."""

    def __init__(
        self,
        settings: ProxmoxSettings,
        *,
        tracing: ClientTracing,
        stats: CallStats,
        sleep: Sleep,
        rng: random.Random,
        api_factory: ApiFactory = build_proxmoxer,
    ) -> None:
        self.settings = settings
        self._api = api_factory(settings, read_secret_file(settings.token_file))
        self._tracing = tracing
        self._stats = stats
        self._sleep = sleep
        self._rng = rng
        self._slots = asyncio.Semaphore(settings.max_concurrency)

    async def read(
        self,
        operation: str,
        path: Sequence[PathPart],
        params: Mapping[str, ParamValue] | None = None,
        *,
        node: str | None = None,
        vmid: int | None = None,
    ) -> Any:
        """GET ``path``: idempotent, retried on ``Unreachable``/``Locked``."""
        return await self._call(
            "GET", operation, path, params or {}, node, vmid, mutating=False, idempotent=True
        )

    async def write(
        self,
        method: Method,
        operation: str,
        path: Sequence[PathPart],
        params: Mapping[str, ParamValue] | None = None,
        *,
        idempotent: bool = False,
        mutating: bool = True,
        node: str | None = None,
        vmid: int | None = None,
    ) -> Any:
        """POST/PUT/DELETE ``path``. Only ``idempotent`` calls are repeated after a lost answer."""
        return await self._call(
            method,
            operation,
            path,
            params or {},
            node,
            vmid,
            mutating=mutating,
            idempotent=idempotent,
        )

    async def close(self) -> None:
        session = self._api._store.get("session") if hasattr(self._api, "_store") else None
        if session is not None:
            await asyncio.to_thread(session.close)

    async def _call(
        self,
        method: Method,
        operation: str,
        path: Sequence[PathPart],
        params: Mapping[str, ParamValue],
        node: str | None,
        vmid: int | None,
        *,
        mutating: bool,
        idempotent: bool,
    ) -> Any:
        wire, secrets = encode_params(params)
        segments = [_segment(p) for p in path]
        key = f"{method} {operation}"
        self._stats.record(key, mutating=mutating)

        async def attempt() -> Any:
            return await self._attempt(
                method, operation, segments, wire, secrets, node, vmid, mutating
            )

        def retry_delay(exc: ClientError) -> float | None:
            if isinstance(exc, OutcomeUnknown):
                return 0.0 if idempotent else None
            return 0.0 if isinstance(exc, Unreachable | Locked) else None

        return await retrying(
            attempt,
            policy=self.settings.retry,
            retry_delay=retry_delay,
            sleep=self._sleep,
            rng=self._rng,
            on_retry=lambda _exc: self._stats.record_retry(key),
        )

    async def _attempt(
        self,
        method: Method,
        operation: str,
        segments: list[str],
        wire: dict[str, WireValue],
        secrets: list[Secret],
        node: str | None,
        vmid: int | None,
        mutating: bool,
    ) -> Any:
        attributes: dict[str, AttributeValue | None] = {
            "http.request.method": method,
            "server.address": self.settings.host,
            "server.port": self.settings.port,
            "proxmox.node": node,
            "proxmox.vmid": vmid,
        }
        with self._tracing.span(f"proxmox {method} {operation}", attributes) as span:
            try:
                async with self._slots:
                    result = await asyncio.to_thread(self._invoke, method, segments, dict(wire))
            except ResourceException as exc:
                span.set("http.response.status_code", int(exc.status_code))
                raise from_resource_exception(
                    exc, operation=operation, mutating=mutating, secrets=secrets
                ) from None
            except requests.RequestException as exc:
                raise from_requests_exception(exc, operation=operation, mutating=mutating) from None
            span.set("http.response.status_code", 200)
            return result

    def _invoke(self, method: Method, segments: list[str], wire: dict[str, WireValue]) -> Any:
        resource = self._api(segments)
        if method == "GET":
            return resource.get(**wire)
        if method == "POST":
            return resource.post(**wire)
        if method == "PUT":
            return resource.put(**wire)
        return resource.delete(**wire)


def expect_list(data: Any, operation: str) -> list[dict[str, Any]]:
    """The reply as a list of objects, or a ``ProxmoxError`` naming the call."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise ProxmoxError(
            200, f"unexpected reply shape {type(data).__name__}", operation=operation
        )
    return [item for item in data if isinstance(item, dict)]


def expect_dict(data: Any, operation: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProxmoxError(
            200, f"unexpected reply shape {type(data).__name__}", operation=operation
        )
    return data


def expect_upid(data: Any, operation: str) -> str:
    if not isinstance(data, str) or not data.startswith("UPID:"):
        raise ProxmoxError(
            200, f"expected a task id, got {type(data).__name__}", operation=operation
        )
    return data
