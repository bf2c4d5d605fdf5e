"""etcd v3 through its JSON gateway (etcd 3.4's ``/v3/...``), with httpx: no gRPC library.

Keys and values travel base64-encoded; int64 fields come back as strings, and proto3
leaves zero values out (an absent ``succeeded`` is false, an absent ``TTL`` is 0). The
coordination backend (``services/ha``) uses ``EtcdClient`` (async: the lease, watches,
status) and ``EtcdSyncClient`` (the store's synchronous write-through of shared state).

Every call goes to one endpoint; a connect error, a timeout or an unavailable member moves
on to the next one. Errors (``T``: ``transient``, trying again later may succeed)::

    ClientError
    └── EtcdError(message, code)
        ├── EtcdUnavailable     T  no endpoint answered (members down, no quorum, timeouts)
        ├── EtcdAuthFailed         wrong credentials or certificate refused
        └── EtcdCompacted       T  a watch started below the compacted revision: re-read
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

from homeport.clients.errors import ClientError

# gRPC status codes worth another endpoint: UNKNOWN (e.g. "no leader"), DEADLINE_EXCEEDED,
# UNAVAILABLE. ("etcdserver: request timed out" arrives as UNKNOWN on etcd 3.4.)
_RETRY_CODES = {2, 4, 14}
_AUTH_CODES = {7, 16}
# A TLS alert that arrives after the handshake (TLS 1.3: a member refusing the client's
# certificate) can surface as ssl.SSLError rather than as an httpx error.
TRANSPORT_ERRORS = (httpx.HTTPError, ssl.SSLError)


class EtcdError(ClientError):
    """etcd refused or failed a request; ``code`` is the gRPC status code (0 if none)."""

    def __init__(self, message: str, code: int = 0) -> None:
        self.code = code
        super().__init__(message)


class EtcdUnavailable(EtcdError):
    transient: ClassVar[bool] = True


class EtcdAuthFailed(EtcdError):
    pass


class EtcdCompacted(EtcdError):
    transient: ClassVar[bool] = True

    def __init__(self, revision: int) -> None:
        self.revision = revision
        super().__init__(f"watch start is below the compacted revision {revision}", 11)


def encode(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def decode(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def prefix_end(prefix: str) -> str:
    """The ``range_end`` covering every key that starts with ``prefix``."""
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return raw.decode()


@dataclass(frozen=True)
class EtcdSettings:
    endpoints: tuple[str, ...]
    """Client URLs, e.g. ``https://10.0.0.1:2379``; tried in turn."""
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 2.0
    """Seconds per request (connect and read) before trying the next endpoint."""


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int = 0

    def json(self) -> Any:
        return json.loads(self.value) if self.value else None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> KeyValue:
        return cls(
            key=decode(raw.get("key")).decode(),
            value=decode(raw.get("value")),
            create_revision=int(raw.get("create_revision", 0)),
            mod_revision=int(raw.get("mod_revision", 0)),
            lease=int(raw.get("lease", 0)),
        )


@dataclass(frozen=True)
class WatchEvent:
    kind: str  # PUT | DELETE
    kv: KeyValue


@dataclass(frozen=True)
class TxnResult:
    succeeded: bool
    revision: int
    responses: list[dict[str, Any]]

    def ranges(self) -> list[KeyValue]:
        """The key-values of every range response (e.g. the failure branch's read)."""
        return [
            KeyValue.parse(kv)
            for r in self.responses
            for kv in r.get("response_range", {}).get("kvs", [])
        ]


# -- building requests ------------------------------------------------------------------
def compare_created(key: str, revision: int) -> dict[str, Any]:
    """The key's create revision equals ``revision`` (0: the key does not exist)."""
    return {"key": encode(key), "target": "CREATE", "create_revision": str(revision)}


def put_op(key: str, value: Any, *, lease: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {"key": encode(key), "value": encode(json.dumps(value, default=str))}
    if lease:
        body["lease"] = str(lease)
    return {"request_put": body}


def delete_op(key: str, *, prefix: bool = False) -> dict[str, Any]:
    body = {"key": encode(key)}
    if prefix:
        body["range_end"] = encode(prefix_end(key))
    return {"request_delete_range": body}


def range_op(key: str) -> dict[str, Any]:
    return {"request_range": {"key": encode(key)}}


def _range_body(
    key: str, prefix: bool, limit: int, keys_only: bool, serializable: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {"key": encode(key)}
    if serializable:
        body["serializable"] = True  # the member's own copy: answers without quorum
    if prefix:
        body["range_end"] = encode(prefix_end(key))
    if limit:
        body["limit"] = str(limit)
    if keys_only:
        body["keys_only"] = True
    return body


def _txn_body(
    compare: Sequence[Mapping[str, Any]],
    success: Sequence[Mapping[str, Any]],
    failure: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    return {"compare": list(compare), "success": list(success), "failure": list(failure)}


def _txn_result(data: Mapping[str, Any]) -> TxnResult:
    return TxnResult(
        succeeded=bool(data.get("succeeded", False)),
        revision=int(data.get("header", {}).get("revision", 0)),
        responses=list(data.get("responses", [])),
    )


def _ssl_context(settings: EtcdSettings) -> ssl.SSLContext | bool:
    if not any(u.startswith("https:") for u in settings.endpoints):
        return True
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if settings.cert_file is not None:
        context.load_cert_chain(
            str(settings.cert_file), str(settings.key_file) if settings.key_file else None
        )
    return context


def _failure(response: httpx.Response) -> EtcdError:
    try:
        data = response.json()
    except ValueError:
        data = {}
    message = str(data.get("message") or data.get("error") or response.text[:200]).strip()
    code = int(data.get("code", 0) or 0)
    if (
        code in _AUTH_CODES
        or response.status_code in (401, 403)
        or "authentication failed" in message
    ):
        return EtcdAuthFailed(f"etcd: {message}", code)
    if code in _RETRY_CODES or response.status_code in (502, 503, 504):
        return EtcdUnavailable(f"etcd: {message}", code)
    return EtcdError(f"etcd: {message}", code)


class _Endpoints:
    """The endpoint to use next; moves on when one fails (shared by every call)."""

    def __init__(self, urls: Sequence[str]) -> None:
        if not urls:
            raise ValueError("no etcd endpoints configured")
        self.urls = [u.rstrip("/") for u in urls]
        self.current = 0

    def order(self) -> list[str]:
        return self.urls[self.current :] + self.urls[: self.current]

    def failed(self, url: str) -> None:
        if self.urls[self.current] == url:
            self.current = (self.current + 1) % len(self.urls)


class EtcdClient:
    """Async calls to an etcd cluster's JSON gateway."""

    def __init__(self, settings: EtcdSettings) -> None:
        self.settings = settings
        self.endpoints = _Endpoints(settings.endpoints)
        self._http = httpx.AsyncClient(
            verify=_ssl_context(settings), timeout=settings.timeout, trust_env=False
        )
        self._token: str | None = None

    async def close(self) -> None:
        await self._http.aclose()

    # -- transport ------------------------------------------------------------------------
    async def _authenticate(self, url: str) -> None:
        if self.settings.username is None or self._token is not None:
            return
        body = {"name": self.settings.username, "password": self.settings.password or ""}
        response = await self._http.post(f"{url}/v3/auth/authenticate", json=body)
        if response.status_code != 200:
            raise _failure(response)
        self._token = str(response.json().get("token", ""))

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self._token} if self._token else {}

    async def call(self, path: str, body: Mapping[str, Any], *, url: str | None = None) -> Any:
        """POST ``body`` to ``path``, on ``url`` or on the endpoints in turn."""
        problems: list[str] = []
        for endpoint in [url] if url else self.endpoints.order():
            for attempt in (1, 2):
                try:
                    await self._authenticate(endpoint)
                    response = await self._http.post(
                        f"{endpoint}{path}", json=dict(body), headers=self._headers()
                    )
                except TRANSPORT_ERRORS as exc:
                    problems.append(f"{endpoint}: {type(exc).__name__} {exc}".strip())
                    self.endpoints.failed(endpoint)
                    break
                if response.status_code == 200:
                    return response.json()
                error = _failure(response)
                if isinstance(error, EtcdAuthFailed) and self._token and attempt == 1:
                    self._token = None  # an expired token: log in again once
                    continue
                if not isinstance(error, EtcdUnavailable):
                    raise error
                problems.append(f"{endpoint}: {error}")
                self.endpoints.failed(endpoint)
                break
        raise EtcdUnavailable("no etcd endpoint answered: " + "; ".join(problems), 14)

    # -- leases ---------------------------------------------------------------------------
    async def grant(self, ttl: float) -> tuple[int, int]:
        """A new lease: (id, granted TTL in seconds)."""
        data = await self.call("/v3/lease/grant", {"TTL": str(max(1, round(ttl)))})
        return int(data["ID"]), int(data.get("TTL", 0))

    async def keepalive(self, lease: int) -> int:
        """Renew once; the remaining TTL, 0 when the lease is gone."""
        data = await self.call("/v3/lease/keepalive", {"ID": str(lease)})
        return int(data.get("result", {}).get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        try:
            await self.call("/v3/lease/revoke", {"ID": str(lease)})
        except EtcdError as exc:
            if "not found" not in str(exc):
                raise

    # -- keys -----------------------------------------------------------------------------
    async def range(
        self, key: str, *, prefix: bool = False, limit: int = 0, keys_only: bool = False
    ) -> tuple[list[KeyValue], int]:
        """Key-values (sorted by key) and the store revision they were read at."""
        data = await self.call("/v3/kv/range", _range_body(key, prefix, limit, keys_only))
        kvs = [KeyValue.parse(kv) for kv in data.get("kvs", [])]
        return kvs, int(data.get("header", {}).get("revision", 0))

    async def get(self, key: str) -> KeyValue | None:
        kvs, _ = await self.range(key)
        return kvs[0] if kvs else None

    async def txn(
        self,
        compare: Sequence[Mapping[str, Any]],
        success: Sequence[Mapping[str, Any]],
        failure: Sequence[Mapping[str, Any]] = (),
    ) -> TxnResult:
        return _txn_result(await self.call("/v3/kv/txn", _txn_body(compare, success, failure)))

    async def put(self, key: str, value: Any, *, lease: int = 0) -> int:
        body = put_op(key, value, lease=lease)["request_put"]
        data = await self.call("/v3/kv/put", body)
        return int(data.get("header", {}).get("revision", 0))

    async def delete(self, key: str, *, prefix: bool = False) -> int:
        body = delete_op(key, prefix=prefix)["request_delete_range"]
        data = await self.call("/v3/kv/deleterange", body)
        return int(data.get("header", {}).get("revision", 0))

    # -- watching -------------------------------------------------------------------------
    async def watch(
        self, prefix: str, *, start_revision: int, idle_timeout: float = 30.0
    ) -> AsyncGenerator[tuple[int, list[WatchEvent]], None]:
        """Batches of (revision, events) from ``start_revision`` on, until the stream ends
        (a member went away, or nothing came for ``idle_timeout``): watch again from the
        last revision seen plus one."""
        body = {
            "create_request": {
                "key": encode(prefix),
                "range_end": encode(prefix_end(prefix)),
                "start_revision": str(start_revision),
            }
        }
        endpoint = self.endpoints.order()[0]
        timeout = httpx.Timeout(self.settings.timeout, read=idle_timeout)
        try:
            await self._authenticate(endpoint)
            async with self._http.stream(
                "POST",
                f"{endpoint}/v3/watch",
                json=body,
                headers=self._headers(),
                timeout=timeout,
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _failure(response)
                async for line in response.aiter_lines():
                    batch = _watch_batch(line)
                    if batch is not None:
                        yield batch
        except httpx.ReadTimeout:
            return  # quiet for ``idle_timeout``: the caller watches again from where it was
        except TRANSPORT_ERRORS as exc:
            self.endpoints.failed(endpoint)
            raise EtcdUnavailable(f"watch on {endpoint}: {type(exc).__name__} {exc}", 14) from None

    # -- the cluster ----------------------------------------------------------------------
    async def members(self) -> list[dict[str, Any]]:
        data = await self.call("/v3/cluster/member/list", {})
        return list(data.get("members", []))

    async def status(self, url: str) -> dict[str, Any]:
        """One member's own status (leader, raft term, db size), asked of that member."""
        return dict(await self.call("/v3/maintenance/status", {}, url=url.rstrip("/")))


def _watch_batch(line: str) -> tuple[int, list[WatchEvent]] | None:
    if not line.strip():
        return None
    data = json.loads(line)
    if "error" in data:
        error = data["error"]
        raise EtcdUnavailable(f"watch: {error.get('message', error)}", int(error.get("code", 14)))
    result = data.get("result", {})
    if int(result.get("compact_revision", 0) or 0):
        raise EtcdCompacted(int(result["compact_revision"]))
    if result.get("canceled"):
        raise EtcdUnavailable(f"watch canceled: {result.get('cancel_reason', '')}", 1)
    revision = int(result.get("header", {}).get("revision", 0))
    events = [
        WatchEvent(kind=str(e.get("type", "PUT")), kv=KeyValue.parse(e.get("kv", {})))
        for e in result.get("events", [])
    ]
    return revision, events


class EtcdSyncClient:
    """The same calls, blocking: for writes that must finish before a store write returns."""

    def __init__(self, settings: EtcdSettings) -> None:
        self.settings = settings
        self.endpoints = _Endpoints(settings.endpoints)
        self._http = httpx.Client(
            verify=_ssl_context(settings), timeout=settings.timeout, trust_env=False
        )
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def _authenticate(self, url: str) -> None:
        if self.settings.username is None or self._token is not None:
            return
        body = {"name": self.settings.username, "password": self.settings.password or ""}
        response = self._http.post(f"{url}/v3/auth/authenticate", json=body)
        if response.status_code != 200:
            raise _failure(response)
        self._token = str(response.json().get("token", ""))

    def call(self, path: str, body: Mapping[str, Any]) -> Any:
        problems: list[str] = []
        for endpoint in self.endpoints.order():
            for attempt in (1, 2):
                try:
                    self._authenticate(endpoint)
                    headers = {"Authorization": self._token} if self._token else {}
                    response = self._http.post(
                        f"{endpoint}{path}", json=dict(body), headers=headers
                    )
                except TRANSPORT_ERRORS as exc:
                    problems.append(f"{endpoint}: {type(exc).__name__} {exc}".strip())
                    self.endpoints.failed(endpoint)
                    break
                if response.status_code == 200:
                    return response.json()
                error = _failure(response)
                if isinstance(error, EtcdAuthFailed) and self._token and attempt == 1:
                    self._token = None
                    continue
                if not isinstance(error, EtcdUnavailable):
                    raise error
                problems.append(f"{endpoint}: {error}")
                self.endpoints.failed(endpoint)
                break
        raise EtcdUnavailable("no etcd endpoint answered: " + "; ".join(problems), 14)

    def txn(
        self,
        compare: Sequence[Mapping[str, Any]],
        success: Sequence[Mapping[str, Any]],
        failure: Sequence[Mapping[str, Any]] = (),
    ) -> TxnResult:
        return _txn_result(self.call("/v3/kv/txn", _txn_body(compare, success, failure)))

    def range(
        self,
        key: str,
        *,
        prefix: bool = False,
        limit: int = 0,
        keys_only: bool = False,
        serializable: bool = False,
    ) -> tuple[list[KeyValue], int]:
        body = _range_body(key, prefix, limit, keys_only, serializable)
        data = self.call("/v3/kv/range", body)
        kvs = [KeyValue.parse(kv) for kv in data.get("kvs", [])]
        return kvs, int(data.get("header", {}).get("revision", 0))

    def members(self) -> list[dict[str, Any]]:
        return list(self.call("/v3/cluster/member/list", {}).get("members", []))

    def status(self, url: str) -> dict[str, Any]:
        """One member's status, asked of that member only (raises when it does not answer)."""
        try:
            self._authenticate(url.rstrip("/"))
            headers = {"Authorization": self._token} if self._token else {}
            response = self._http.post(
                f"{url.rstrip('/')}/v3/maintenance/status", json={}, headers=headers
            )
        except TRANSPORT_ERRORS as exc:
            raise EtcdUnavailable(f"{url}: {type(exc).__name__} {exc}".strip(), 14) from None
        if response.status_code != 200:
            raise _failure(response)
        return dict(response.json())
