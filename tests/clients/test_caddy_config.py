"""Caddy JSON builders and ETags: pure, no sockets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from homeport.clients.caddy_config import (
    EPOCH_HEADER,
    RouteSpec,
    catch_all_route,
    etag,
    fnv1a_32,
    is_owned_route,
    listen_port,
    redirect_route,
    reverse_proxy_route,
    route_hosts,
    route_id,
    server_layout,
    tailnet_tls_policy,
    tls_policy,
    upstream,
)
from homeport.controller.config import CaddySettings as CaddyConfigSection


def test_fnv1a_matches_reference_vectors() -> None:
    assert fnv1a_32(b"") == "811c9dc5"
    assert fnv1a_32(b"a") == "e40c292c"
    assert fnv1a_32(b"foobar") == "bf9cf968"


def test_etag_prefers_the_header_and_otherwise_hashes_the_exact_body() -> None:
    path = "/config/apps/http/servers/homeport/routes"
    assert etag(path, b"[]\n", '"x 1"') == '"x 1"'
    body = b"[]\n"
    assert etag(path, body, None) == f'"{path} {fnv1a_32(body)}"'


def test_reverse_proxy_route_shape() -> None:
    spec = RouteSpec(
        name="shop",
        hosts=["shop.example.com"],
        upstreams=[upstream("100.64.0.5", 8080), upstream("fd7a::5", 8080)],
        path_prefix="/api/",
        health_uri="/healthz",
        epoch=7,
    )
    route = reverse_proxy_route(spec)
    assert route["@id"] == route_id("shop") == "homeport-route-shop"
    assert route["match"] == [{"host": ["shop.example.com"], "path": ["/api", "/api/*"]}]
    handler = route["handle"][0]
    assert [u["dial"] for u in handler["upstreams"]] == ["100.64.0.5:8080", "[fd7a::5]:8080"]
    assert handler["health_checks"]["active"]["uri"] == "/healthz"
    assert handler["health_checks"]["passive"]["fail_duration"] == "10s"
    assert handler["load_balancing"]["try_duration"] == "5s"
    assert handler["headers"] == {"request": {"set": {EPOCH_HEADER: ["7"]}}}
    assert route["terminal"] is True
    assert reverse_proxy_route(spec) == route  # deterministic


def test_route_without_health_uri_or_epoch_has_neither() -> None:
    route = reverse_proxy_route(RouteSpec(name="a", hosts=["a.test"], upstreams=["h:1"]))
    handler = route["handle"][0]
    assert "active" not in handler["health_checks"]
    assert "headers" not in handler
    assert "path" not in route["match"][0]


def test_route_needs_hosts_and_upstreams() -> None:
    with pytest.raises(ValueError):
        reverse_proxy_route(RouteSpec(name="a", hosts=[], upstreams=["h:1"]))


def test_ownership_and_hosts() -> None:
    mine = reverse_proxy_route(RouteSpec(name="a", hosts=["b.test", "a.test"], upstreams=["h:1"]))
    theirs = {"@id": "manual", "match": [{"host": ["x.test"]}]}
    assert is_owned_route(mine)
    assert not is_owned_route(theirs)
    assert not is_owned_route(catch_all_route())
    assert route_hosts([mine, theirs, catch_all_route()]) == ["a.test", "b.test"]


def test_server_layouts_per_tls_mode() -> None:
    off = server_layout("hp", tls="off", https_listen=[":443"], http_listen=["127.0.0.1:8080"])
    assert off.servers == {
        "hp": {"listen": ["127.0.0.1:8080"], "automatic_https": {"disable": True}}
    }
    acme = server_layout("hp", tls="acme", https_listen=[":443"], http_listen=[":80"])
    assert acme.servers == {"hp": {"listen": [":443"]}}
    internal = server_layout("hp", tls="internal", https_listen=[":8443"], http_listen=[":8080"])
    assert set(internal.servers) == {"hp", "hp-redirect"}
    assert internal.servers["hp"]["automatic_https"] == {"disable_redirects": True}
    location = internal.fixed_routes["hp-redirect"]["handle"][0]["headers"]["Location"]
    assert location == ["https://{http.request.host}:8443{http.request.uri}"]


def test_redirect_omits_the_default_port() -> None:
    location = redirect_route(443)["handle"][0]["headers"]["Location"][0]
    assert location == "https://{http.request.host}{http.request.uri}"
    assert listen_port([":443"]) == 443
    assert listen_port([]) is None


def test_tls_policy_only_when_the_mode_needs_one() -> None:
    assert tls_policy(["a.test"], tls="off", acme_email=None) is None
    assert tls_policy(["a.test"], tls="acme", acme_email=None) is None
    assert tls_policy([], tls="internal", acme_email=None) is None
    internal = tls_policy(["b.test", "a.test"], tls="internal", acme_email=None)
    assert internal == {
        "@id": "homeport-tls",
        "subjects": ["a.test", "b.test"],
        "issuers": [{"module": "internal"}],
    }
    acme = tls_policy(["a.test"], tls="acme", acme_email="ops@example.com")
    assert acme is not None
    assert acme["issuers"] == [{"module": "acme", "email": "ops@example.com"}]


def test_tailnet_layout_adds_a_server_on_the_tailnet_address_only() -> None:
    layout = server_layout(
        "hp",
        tls="acme",
        https_listen=[":443"],
        http_listen=[":80"],
        tailnet_listen=["100.64.0.1:443"],
    )
    assert layout.server_for("public") == "hp"
    assert layout.server_for("tailnet") == "hp-tailnet"
    assert layout.servers["hp-tailnet"] == {
        "listen": ["100.64.0.1:443"],
        "automatic_https": {"disable_redirects": True},
    }
    plain = server_layout("hp", tls="acme", https_listen=[":443"], http_listen=[":80"])
    assert plain.server_for("tailnet") is None and "hp-tailnet" not in plain.servers


def test_tailnet_hosts_use_the_internal_issuer_whatever_the_tls_mode() -> None:
    policy = tailnet_tls_policy(["b.lab.internal", "a.lab.internal"], tls="acme")
    assert policy == {
        "@id": "homeport-tls-tailnet",
        "subjects": ["a.lab.internal", "b.lab.internal"],
        "issuers": [{"module": "internal"}],
    }
    assert tailnet_tls_policy(["a.lab.internal"], tls="off") is None
    assert tailnet_tls_policy([], tls="internal") is None


@pytest.mark.parametrize("address", [":443", "0.0.0.0:443", "[::]:443"])
def test_a_tailnet_listener_on_every_address_is_refused(address: str) -> None:
    with pytest.raises(ValidationError, match="listens on every address"):
        CaddyConfigSection(tailnet_listen=[address])
    assert CaddyConfigSection(tailnet_listen=["100.64.0.1:443"]).tailnet_listen
