"""PVE's wire format: the `{"data": ...}` envelope, error status lines, parameter decoding.

The reason phrase of an error status line is the first line of the message (proxmoxer reads
it); bodies follow pve-http-server >= 5.2 (PVE >= 8.3): `{"data":null,"message":"...\n"}`
plus `"errors"` for 400s. Parameters: `application/x-www-form-urlencoded` with `+` as space,
`&` or `;` between pairs and repeated keys as arrays, or a JSON body. Used by `server`.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from typing import Any

from aiohttp import web

from homeport.simulator.errors import PveError

CONTENT_TYPE = "application/json;charset=UTF-8"
PROXY_STATUSES = range(595, 600)


def common_headers(now: float) -> dict[str, str]:
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return {
        "Cache-Control": "max-age=0",
        "Pragma": "no-cache",
        "Expires": stamp,
        "Server": "pve-api-daemon/3.0",
    }


def success(data: Any, extra: dict[str, Any] | None, now: float) -> web.Response:
    body = {"data": data, **(extra or {})}
    return _json(200, None, body, now)


def failure(err: PveError, now: float) -> web.Response:
    reason = _reason(err.message)
    if err.status in PROXY_STATUSES:
        body: dict[str, Any] = {"data": None}
    else:
        message = err.message if err.status == 501 else err.message + "\n"
        body = {"data": None, "message": message}
        if err.errors is not None:
            body["errors"] = err.errors
    return _json(err.status, reason, body, now)


def unauthorized(now: float, reason: str = "Authentication failed!") -> web.Response:
    return web.Response(status=401, reason=reason, body=b"", headers=common_headers(now))


def _json(status: int, reason: str | None, body: dict[str, Any], now: float) -> web.Response:
    headers = common_headers(now)
    headers["Content-Type"] = CONTENT_TYPE
    payload = json.dumps(body, separators=(",", ":")).encode()
    return web.Response(status=status, reason=reason, body=payload, headers=headers)


def _reason(message: str) -> str:
    first = message.split("\n", 1)[0].replace("\r", " ")
    return first.encode("latin-1", errors="replace").decode("latin-1") or "Internal Server Error"


def decode_urlencoded(text: str) -> dict[str, Any]:
    """PVE's `decode_urlencoded`: `+` is a space, `&`/`;` separate, repeats become arrays."""
    params: dict[str, Any] = {}
    for pair in text.replace(";", "&").split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        key = urllib.parse.unquote(key.replace("+", " "))
        value = urllib.parse.unquote(value.replace("+", " "))
        if key in params:
            previous = params[key]
            params[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            params[key] = value
    return params


def decode_body(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if content_type.split(";")[0].strip() == "application/json":
        try:
            data = json.loads(body)
        except ValueError as err:
            raise PveError(f"JSON decode error: {err}", status=400) from err
        if not isinstance(data, dict):
            raise PveError("JSON body must be an object", status=400)
        return data
    if content_type.startswith("multipart/"):
        raise PveError("multipart uploads are not simulated", status=501)
    return decode_urlencoded(body.decode("utf-8", errors="replace"))
