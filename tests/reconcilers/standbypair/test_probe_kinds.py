"""How a pair member is probed: ``spec.probe`` with exactly one of http / tcp / exec (the
older form, a bare ``path``, is HTTP) turned into a target without any I/O; and the exec
probe's command line as it reaches the VM."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from pydantic import ValidationError

from homeport.clients.probes import remote_argv
from homeport.kinds import StandbyPair
from homeport.kinds.app import HealthCheck
from homeport.kinds.standbypair import Probe
from homeport.reconcilers.pairroutes import MemberTimeouts
from homeport.reconcilers.standbypair.plan import Member
from homeport.reconcilers.standbypair.probekind import (
    ExecTarget,
    HttpTarget,
    TcpTarget,
    probe_target,
)

MEMBER = Member(app="db-a", host="100.64.0.7", port=6379, health=HealthCheck(type="tcp"))


def pair(probe: dict[str, Any] | None) -> StandbyPair:
    spec: dict[str, Any] = {"primary": "db-a", "standby": "db-b"}
    if probe is not None:
        spec["probe"] = probe
    return StandbyPair.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "StandbyPair",
            "metadata": {"name": "db"},
            "spec": spec,
        }
    )


def test_tcp_probe_connects_to_the_declared_port_with_the_probe_timeout() -> None:
    probe = pair({"tcp": {"port": 6380}, "intervalSeconds": 1, "timeoutSeconds": 0.5}).spec.probe
    assert probe.kind == "tcp"
    assert probe_target(probe, MEMBER) == TcpTarget("100.64.0.7", 6380, 0.5)


def test_exec_probe_runs_the_argv_on_the_member() -> None:
    command = ["/usr/bin/redis-cli", "-p", "6379", "ping"]
    probe = pair({"exec": {"command": command}}).spec.probe
    assert probe.kind == "exec"
    assert probe_target(probe, MEMBER) == ExecTarget("100.64.0.7", tuple(command), 1.0)


def test_older_form_is_the_apps_own_check_at_the_pairs_path() -> None:
    """``probe: {path: ...}`` and no probe at all validate as before and probe as before:
    the App's health check (here a TCP one) at the pair's path."""
    for spec in ({"path": "/ready"}, {"intervalSeconds": 1, "timeoutSeconds": 0.5}, None):
        probe = pair(spec).spec.probe
        assert probe.kind == "http"
        target = probe_target(probe, MEMBER)
        assert isinstance(target, HttpTarget)
        assert target.check.type == "tcp"
        assert target.path == ((spec or {}).get("path") or "/healthz")


def test_declared_http_probe_is_a_get_whatever_the_apps_check() -> None:
    probe = pair({"http": {"path": "/live"}}).spec.probe
    target = probe_target(probe, MEMBER)
    assert isinstance(target, HttpTarget)
    assert (target.check.type, target.path, target.port) == ("http", "/live", 6379)


def test_a_member_without_an_address_is_not_probed() -> None:
    probe = pair({"tcp": {"port": 6379}}).spec.probe
    assert probe_target(probe, Member(app="db-b")) is None


def test_the_store_round_trip_keeps_the_probe() -> None:
    """The store dumps and validates objects again: unset kinds come back as nulls."""
    for spec in ({"tcp": {"port": 1883}}, {"exec": {"command": ["/bin/true"]}}, {"path": "/h"}):
        original = pair(spec)
        again = StandbyPair.model_validate(original.model_dump(by_alias=True))
        assert again.spec.probe == original.spec.probe
        assert again.spec.probe.kind == original.spec.probe.kind


@pytest.mark.parametrize(
    ("probe", "problem"),
    [
        ({"tcp": {"port": 5432}, "exec": {"command": ["/bin/true"]}}, "2 kinds (tcp, exec)"),
        ({"path": "/h", "tcp": {"port": 5432}}, "2 kinds (path, tcp)"),
        ({"http": {}, "tcp": {"port": 1}, "exec": {"command": ["/bin/true"]}}, "3 kinds"),
        ({"path": "/h", "http": {"path": "/h"}}, "both path and http.path"),
        ({"tcp": {"port": 65536}}, "port 65536 is out of range"),
        ({"tcp": {"port": 0}}, "port 0 is out of range"),
        ({"tcp": {"port": True}}, "port"),
        ({"exec": {"command": []}}, "command is empty"),
        ({"exec": {"command": [""]}}, "command is empty"),
        ({"exec": {"command": ["redis-cli", "ping"]}}, "'redis-cli' is not a normalised absolute"),
        ({"exec": {"command": ["/usr/bin/../bin/x"]}}, "not a normalised absolute path"),
        ({"exec": {"command": ["/bin/x", "a\nb"]}}, "control character"),
        ({"exec": {"command": "/usr/bin/pg_isready -q"}}, "command"),
    ],
)
def test_invalid_probes_are_refused(probe: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Probe.model_validate(probe)
    assert problem in str(caught.value)


def test_exec_arguments_reach_the_vm_as_single_words() -> None:
    """Whatever an argument holds, the remote shell sees it as one word: the line sent is
    ``shlex.join`` of the argv under coreutils ``timeout``, never a concatenation."""
    command = ["/usr/bin/check", "a b", "$(reboot)", "; rm -rf /", "'"]
    probe = Probe.model_validate({"exec": {"command": command}, "timeoutSeconds": 0.5})
    target = probe_target(probe, MEMBER)
    assert isinstance(target, ExecTarget)
    argv = remote_argv(target.argv, target.timeout)
    assert argv == ["timeout", "-k", "1", "0.5", *command]
    assert shlex.split(shlex.join(argv)) == argv


@pytest.mark.parametrize(
    "kind",
    [{"http": {}}, {"tcp": {"port": 6379}}, {"exec": {"command": ["/usr/bin/redis-cli", "ping"]}}],
)
def test_route_timeouts_follow_the_detection_time_for_every_kind(kind: dict[str, Any]) -> None:
    """A route to a member (if the pair has one) gives up when the pair would have noticed
    the member is down, however it is probed."""
    probe = Probe.model_validate(
        {**kind, "intervalSeconds": 1, "timeoutSeconds": 0.5, "failureThreshold": 3}
    )
    timeouts = MemberTimeouts.of(probe)
    assert (timeouts.dial, timeouts.response_header, timeouts.try_duration) == (0.5, 3.5, 0.5)


@pytest.mark.parametrize(
    ("timeout", "written"), [(0.5, "0.5"), (2.0, "2"), (1e-05, "0.001"), (0.0004, "0.001")]
)
def test_the_remote_timeout_is_a_duration_coreutils_reads(timeout: float, written: str) -> None:
    """Never ``1e-05`` (refused by ``timeout``) nor ``0`` (no limit at all)."""
    assert remote_argv(["/bin/true"], timeout)[:4] == ["timeout", "-k", "1", written]
