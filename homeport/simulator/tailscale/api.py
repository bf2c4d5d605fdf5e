"""The Tailscale API v2 over HTTP (aiohttp), serving a ``tailnet.Tailnet``.

Endpoints (paths as ``https://api.tailscale.com/api/v2/...``):

- ``GET /tailnet/{tailnet}/devices[?fields=all]``, ``GET|DELETE /device/{id}[?fields=all]``
- ``POST /device/{id}/tags``, ``POST /device/{id}/authorized``
- ``POST|GET /tailnet/{tailnet}/keys``, ``GET|DELETE /tailnet/{tailnet}/keys/{id}``

Auth: ``Authorization: Bearer <token>`` or HTTP Basic with the token as user name; 401
otherwise. Errors are ``{"message": ...}``. 429 with ``Retry-After`` (seconds) when rate
limited (``ratelimit.py``) or throttled by the fault.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .tailnet import Tailnet

TAILNET_KEY: web.AppKey[Tailnet] = web.AppKey("tailnet")
MAX_KEY_EXPIRY = 90 * 86400
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"message": message}, status=status, headers=headers)


def _net(request: web.Request) -> Tailnet:
    return request.app[TAILNET_KEY]


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            user, _, _ = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user
    return None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    net = _net(request)
    token = _token(request)
    if token is None or token != net.api_token:
        return error(401, "API token invalid")
    if net.forced_retry_after is not None:
        return error(429, "rate limit exceeded", {"Retry-After": str(int(net.forced_retry_after))})
    wait = net.limiter.retry_after(token, net.now())
    if wait is not None:
        return error(429, "rate limit exceeded", {"Retry-After": str(wait)})
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return error(404, "not found")
    except web.HTTPMethodNotAllowed:
        return error(405, "method not allowed")


def _check_tailnet(request: web.Request) -> web.Response | None:
    name = request.match_info["tailnet"]
    if name not in ("-", _net(request).tailnet):
        return error(403, "user tailnet does not match")
    return None


async def _body(request: web.Request) -> dict[str, object] | web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error(400, "invalid JSON body")
    if not isinstance(body, dict):
        return error(400, "invalid JSON body")
    return body


async def list_devices(request: web.Request) -> web.StreamResponse:
    refused = _check_tailnet(request)
    if refused is not None:
        return refused
    net = _net(request)
    net.expire_ephemeral()
    all_fields = request.query.get("fields") == "all"
    devices = [
        d.document(net.magic_dns_suffix, all_fields=all_fields) for d in net.devices.values()
    ]
    return web.json_response({"devices": devices})


async def get_device(request: web.Request) -> web.StreamResponse:
    net = _net(request)
    device = net.find(request.match_info["id"])
    if device is None:
        return error(404, "not found")
    all_fields = request.query.get("fields") == "all"
    return web.json_response(device.document(net.magic_dns_suffix, all_fields=all_fields))


async def delete_device(request: web.Request) -> web.StreamResponse:
    net = _net(request)
    device = net.find(request.match_info["id"])
    if device is None:
        return error(404, "not found")
    del net.devices[device.node_id]
    net.changed()
    return web.Response(status=200)


async def set_tags(request: web.Request) -> web.StreamResponse:
    net = _net(request)
    device = net.find(request.match_info["id"])
    if device is None:
        return error(404, "not found")
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    tags = body.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return error(400, "tags must be a list of strings")
    bad = net.invalid_tags([str(t) for t in tags])
    if bad:
        return error(400, f"requested tags [{' '.join(bad)}] are invalid or not permitted")
    device.tags = [str(t) for t in tags]
    if device.tags:
        device.user = "tagged-devices"
    net.changed()
    return web.json_response({})


async def set_authorized(request: web.Request) -> web.StreamResponse:
    net = _net(request)
    device = net.find(request.match_info["id"])
    if device is None:
        return error(404, "not found")
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    authorized = body.get("authorized")
    if not isinstance(authorized, bool):
        return error(400, "authorized must be a boolean")
    device.authorized = authorized
    net.changed()
    return web.json_response({})


def _create_capability(body: dict[str, object]) -> dict[str, object] | None:
    capabilities = body.get("capabilities")
    devices = capabilities.get("devices") if isinstance(capabilities, dict) else None
    create = devices.get("create") if isinstance(devices, dict) else None
    return create if isinstance(create, dict) else None


async def create_key(request: web.Request) -> web.StreamResponse:
    refused = _check_tailnet(request)
    if refused is not None:
        return refused
    net = _net(request)
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    create = _create_capability(body)
    if create is None:
        return error(400, "capabilities.devices.create is required")
    tags = create.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return error(400, "tags must be a list of strings")
    bad = net.invalid_tags([str(t) for t in tags])
    if bad:
        return error(400, f"requested tags [{' '.join(bad)}] are invalid or not permitted")
    expiry = body.get("expirySeconds")
    if expiry is not None and (
        not isinstance(expiry, int) or isinstance(expiry, bool) or not 0 <= expiry <= MAX_KEY_EXPIRY
    ):
        return error(400, f"expirySeconds must be between 0 and {MAX_KEY_EXPIRY}")
    description = body.get("description", "")
    key, secret = net.create_key(
        reusable=bool(create.get("reusable", False)),
        ephemeral=bool(create.get("ephemeral", False)),
        preauthorized=bool(create.get("preauthorized", False)),
        tags=[str(t) for t in tags],
        expiry_seconds=float(expiry) if expiry else None,
        description=str(description),
    )
    return web.json_response(key.document(net.now(), secret))


async def list_keys(request: web.Request) -> web.StreamResponse:
    refused = _check_tailnet(request)
    if refused is not None:
        return refused
    net = _net(request)
    now = net.now()
    keys = [k.document(now) for k in net.keys.values() if k.revoked is None]
    return web.json_response({"keys": keys})


async def get_key(request: web.Request) -> web.StreamResponse:
    refused = _check_tailnet(request)
    if refused is not None:
        return refused
    net = _net(request)
    key = net.keys.get(request.match_info["id"])
    if key is None or key.revoked is not None:
        return error(404, "not found")
    return web.json_response(key.document(net.now()))


async def delete_key(request: web.Request) -> web.StreamResponse:
    refused = _check_tailnet(request)
    if refused is not None:
        return refused
    net = _net(request)
    key = net.keys.get(request.match_info["id"])
    if key is None or key.revoked is not None:
        return error(404, "not found")
    key.revoked = net.now()
    net.changed()
    return web.Response(status=200)


def build_app(net: Tailnet) -> web.Application:
    app = web.Application(middlewares=[guard])
    app[TAILNET_KEY] = net
    routes = app.router
    routes.add_get("/api/v2/tailnet/{tailnet}/devices", list_devices)
    routes.add_get("/api/v2/device/{id}", get_device)
    routes.add_delete("/api/v2/device/{id}", delete_device)
    routes.add_post("/api/v2/device/{id}/tags", set_tags)
    routes.add_post("/api/v2/device/{id}/authorized", set_authorized)
    routes.add_post("/api/v2/tailnet/{tailnet}/keys", create_key)
    routes.add_get("/api/v2/tailnet/{tailnet}/keys", list_keys)
    routes.add_get("/api/v2/tailnet/{tailnet}/keys/{id}", get_key)
    routes.add_delete("/api/v2/tailnet/{tailnet}/keys/{id}", delete_key)
    return app
