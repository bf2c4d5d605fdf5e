"""The wire format: TLS, auth, envelope, headers, error status lines and bodies."""

from __future__ import annotations

import pytest
import requests
from proxmoxer import ProxmoxAPI, ResourceException

from tests.simulator.proxmox.target import Target


def test_version_envelope_and_headers(pve: Target) -> None:
    response = pve.session().get(pve.url("/version"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert response.headers["Server"] == "pve-api-daemon/3.0"
    data = response.json()["data"]
    assert set(data) >= {"version", "release", "repoid"}
    assert pve.api.version.get() == data


def test_tls_is_verified_against_the_simulator_ca(sim: Target) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(sim.url("/version"), timeout=5)
    assert sim.session().get(sim.url("/version")).ok


def test_bad_token_is_401_with_an_empty_body(pve: Target) -> None:
    session = pve.session(auth=False)
    response = session.get(
        pve.url("/nodes"), headers={"Authorization": "PVEAPIToken=a@pve!b=wrong"}
    )
    assert response.status_code == 401
    assert response.reason == "Authentication failed!"
    assert response.content == b""
    anonymous = session.get(pve.url("/nodes"))
    assert anonymous.status_code == 401
    assert anonymous.reason == "No ticket"


@pytest.mark.pve_refusal_expected
def test_unknown_path_is_501_with_the_method_in_the_reason(pve: Target) -> None:
    response = pve.session().get(pve.url("/no/such/thing"))
    assert response.status_code == 501
    assert response.reason == "Method 'GET /no/such/thing' not implemented"
    with pytest.raises(ResourceException) as err:
        pve.api.no.such.thing.get()
    assert err.value.status_code == 501


@pytest.mark.pve_refusal_expected
def test_unknown_parameter_is_400_with_per_parameter_errors(pve: Target) -> None:
    response = pve.session().get(pve.url("/cluster/resources"), params={"bogus": "1"})
    assert response.status_code == 400
    assert response.reason == "Parameter verification failed."
    body = response.json()
    assert body["data"] is None
    assert body["message"] == "Parameter verification failed.\n"
    assert "not defined in schema" in body["errors"]["bogus"]


@pytest.mark.pve_refusal_expected
def test_enum_violation(pve: Target) -> None:
    with pytest.raises(ResourceException) as err:
        pve.api.cluster.resources.get(type="vms")
    assert err.value.status_code == 400
    assert err.value.errors == {
        "type": "value 'vms' does not have a value in the enumeration 'vm, storage, node, sdn'"
    }


def test_errors_carry_the_message_in_the_reason_phrase_and_body(pve: Target) -> None:
    node = pve.nodes[0]
    response = pve.session().get(pve.url(f"/nodes/{node}/qemu/999999/config"))
    assert response.status_code == 500
    message = f"Configuration file 'nodes/{node}/qemu-server/999999.conf' does not exist"
    assert response.reason == message
    assert response.json() == {"data": None, "message": message + "\n"}


@pytest.mark.pve_refusal_expected
def test_integer_type_check(pve: Target) -> None:
    node = pve.nodes[0]
    with pytest.raises(ResourceException) as err:
        pve.api.nodes(node).qemu("abc").config.get()
    assert err.value.errors == {"vmid": "type check ('integer') failed - got 'abc'"}


def test_get_with_a_body_is_refused(sim: Target) -> None:
    response = sim.session().request("GET", sim.url("/version"), data="a=b")
    assert response.status_code == 501
    assert response.reason == "Unexpected content for method 'GET'"


def test_ticket_login_and_csrf(sim: Target) -> None:
    session = sim.session(auth=False)
    bad = session.post(sim.url("/access/ticket"), data={"username": "root@pam", "password": "nope"})
    assert bad.status_code == 401
    assert bad.reason == "authentication failure"
    good = session.post(
        sim.url("/access/ticket"),
        data={"username": "root", "realm": "pam", "password": "simulator"},
    )
    ticket = good.json()["data"]
    assert ticket["username"] == "root@pam"
    assert ticket["ticket"].startswith("PVE:root@pam:")
    session.cookies.set("PVEAuthCookie", ticket["ticket"])
    assert session.get(sim.url("/nodes")).ok
    node = sim.nodes[0]
    assert (
        session.put(
            sim.url(f"/nodes/{node}/qemu/9000/firewall/options"), data={"enable": 1}
        ).status_code
        == 401
    )
    headers = {"CSRFPreventionToken": ticket["CSRFPreventionToken"]}
    response = session.put(
        sim.url(f"/nodes/{node}/qemu/9000/firewall/options"), data={"enable": 1}, headers=headers
    )
    assert response.ok


def test_proxmoxer_password_login(sim: Target) -> None:
    kwargs = {k: v for k, v in sim.kwargs.items() if k not in ("user", "token_name", "token_value")}
    api = ProxmoxAPI(user="root@pam", password="simulator", **kwargs)
    try:
        assert api.cluster.status.get()[0]["type"] == "cluster"
        node = sim.nodes[0]
        api.nodes(node).qemu(9000).firewall.options.put(enable=1)
    finally:
        api._store["session"].close()


def test_query_parameters_merge_into_post_bodies(sim: Target) -> None:
    node = sim.nodes[0]
    response = sim.session().put(
        sim.url(f"/nodes/{node}/qemu/9000/firewall/options?enable=1"), data={"enable": 0}
    )
    assert response.ok
    assert sim.api.nodes(node).qemu(9000).firewall.options.get()["enable"] == 1


def test_json_bodies_are_accepted(sim: Target) -> None:
    node = sim.nodes[0]
    response = sim.session().put(
        sim.url(f"/nodes/{node}/qemu/9000/firewall/options"), json={"enable": True}
    )
    assert response.ok
    assert sim.api.nodes(node).qemu(9000).firewall.options.get()["enable"] == 1
