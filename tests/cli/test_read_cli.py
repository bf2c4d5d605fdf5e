"""The read side's outputs: JSON/YAML parsed and checked, tables that fit 80 and 200 columns,
and an example in every command's --help. Built on a store written directly (no sockets)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
import typer
import yaml
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.controller.store import DesiredObject, Store
from homeport.kinds import ObjectStatus
from homeport.source.validate import validate_paths
from testkit.example_estate import example_estate

ROOT = Path(__file__).parents[2]
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    store = Store.open(tmp_path / "state.db")
    result = validate_paths([ROOT / "manifests"])
    desired = [DesiredObject(o.resource, o.file, o.line) for o in result.objects]
    store.objects.apply_revision("a" * 40, desired, NOW)
    store.source_state.set("adopted", {"sha": "a" * 40, "keys": sorted(d.key for d in desired)})
    store.revisions.record(
        sha="a" * 40, ref="refs/heads/main", outcome="adopted", now=NOW, objects=len(desired)
    )
    for obj in store.objects.all():
        ready = obj.key != ("App", "shop-b")
        details = {
            "VM": {"vmid": 1000, "node": "pve1", "address": "100.64.0.7"},
            "App": {"release": "b" * 40, "address": "100.64.0.7", "port": 8080},
            "StandbyPair": {
                "primary": "shop-b",
                "standby": "shop-a",
                "epoch": 2,
                "phase": "Degraded",
                "lagSeconds": 1.5,
            },
            "Agent": {
                "unit": "homeport-agent-node-exporter.service",
                "selected": 5,
                "ready": 4,
                "vms": {"caddy-router": "Ready", "shop-b": "unreachable: timeout"},
                "failed": ["shop-b"],
            },
        }.get(obj.kind, {})
        status = ObjectStatus.model_validate(
            {
                "observedGeneration": 1,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True" if ready else "False",
                        "reason": "Converged" if ready else "Unhealthy",
                        "message": "converged" if ready else "health check fails: status 500 " * 6,
                        "lastTransitionTime": NOW.isoformat(),
                    }
                ]
                + (
                    []
                    if ready
                    else [
                        {
                            "type": "Degraded",
                            "status": "True",
                            "reason": "Unhealthy",
                            "message": "health check fails: status 500",
                            "lastTransitionTime": NOW.isoformat(),
                        }
                    ]
                ),
                "details": details,
            }
        )
        store.objects.set_status(obj.key, status, NOW)
    store.events.emit(
        kind="App",
        name="shop-b",
        reason="Unhealthy",
        message="health check fails",
        now=NOW,
        warning=True,
    )
    store.failovers.upsert(
        "shop",
        2,
        {
            "trigger": "automatic",
            "from_app": "shop-a",
            "to_app": "shop-b",
            "phase": "Degraded",
            "started_at": NOW.isoformat(),
            "rpo_seconds": 1.5,
            "outcome": "completed",
            "timeline": [
                {"phase": "Detected", "at": NOW.isoformat(), "detail": "primary down"},
                {"phase": "Rerouted", "at": NOW.isoformat(), "detail": "route shop to shop-b"},
            ],
        },
    )
    store.close()
    path = tmp_path / "homeport.toml"
    path.write_text(
        f'[store]\npath = "{tmp_path / "state.db"}"\n[source]\ndirectory = "{ROOT / "manifests"}"\n'
    )
    return path


def run(config: Path, *args: str, width: int = 80, terminal: bool = False) -> str:
    """The command's standard output; ``terminal``: as if a person read it (rich's
    TTY_COMPATIBLE), else a pipe, as CliRunner's stdout is."""
    env = {"COLUMNS": str(width), "TTY_COMPATIBLE": "1" if terminal else "0"}
    result = CliRunner().invoke(app, [*args, "--config", str(config)], env=env)
    assert result.exit_code == 0, result.output
    return click.unstyle(result.stdout)


def test_status_json_answers_what_is_wrong(config: Path) -> None:
    document = json.loads(run(config, "status", "-o", "json"))
    assert document["revision"]["sha"] == "a" * 40
    assert document["objects"]["total"] == example_estate().objects
    assert document["problems"] == [
        {"object": "App/shop-b", "state": "Degraded", "message": "health check fails: status 500"}
    ]
    shop = next(p for p in document["pairs"] if p["name"] == "shop")
    assert shop["lastFailover"]["rpoSeconds"] == 1.5
    assert yaml.safe_load(run(config, "status", "-o", "yaml")) == document


@pytest.mark.parametrize("width", [80, 200])
@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["get", "all"],
        ["get", "vms", "-o", "wide"],
        ["describe", "standbypair", "shop"],
        ["events"],
    ],
)
def test_tables_fit_the_terminal(config: Path, width: int, command: list[str]) -> None:
    text = run(config, *command, width=width, terminal=True)
    assert text.strip()
    too_long = [line for line in text.splitlines() if len(line) > width]
    assert too_long == [], f"{command} at {width} columns: {too_long[:2]}"


def test_get_json_and_yaml(config: Path) -> None:
    vms = json.loads(run(config, "get", "vms", "-o", "json"))
    assert sorted(v["metadata"]["name"] for v in vms) == example_estate().names["VM"]
    assert all(v["status"]["details"]["vmid"] == 1000 for v in vms)
    one = yaml.safe_load(run(config, "get", "app", "shop-b", "-o", "yaml"))
    assert one["status"]["conditions"][0]["status"] == "False"


def test_get_and_describe_agents(config: Path) -> None:
    table = run(config, "get", "agents", width=200)
    assert "node-exporter" in table and "4/5 VMs" in table
    text = run(config, "describe", "agent", "node-exporter", width=200)
    assert "unreachable: timeout" in text
    document = json.loads(run(config, "get", "agent", "node-exporter", "-o", "json"))
    assert document["spec"]["selector"]["matchLabels"] == {"env": "production"}
    assert document["status"]["details"]["failed"] == ["shop-b"]


def test_describe_pair_shows_its_timeline(config: Path) -> None:
    text = run(config, "describe", "standbypair", "shop", width=200, terminal=True)
    assert "epoch 2: automatic shop-a → shop-b, completed, data-loss window 1.5s" in text
    document = json.loads(run(config, "describe", "standbypair", "shop", "-o", "json"))
    assert [s["phase"] for s in document["failovers"][0]["timeline"]] == ["Detected", "Rerouted"]


def test_errors_are_messages_not_tracebacks(config: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["get", "nosuchkind", "--config", str(config)])
    assert result.exit_code == 2
    assert "unknown kind" in result.output
    missing = CliRunner().invoke(app, ["status", "--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2
    assert "no such config file" in missing.output
    assert "Traceback" not in result.output + missing.output


def _commands(group: click.Command, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in getattr(group, "commands", {}).items():
        if command.hidden:
            continue
        if hasattr(command, "commands"):
            found += _commands(command, f"{prefix}{name} ")
        else:
            found.append((f"{prefix}{name}", command))
    return found


def test_every_command_has_an_example_in_its_help() -> None:
    commands = _commands(typer.main.get_command(app))
    assert len(commands) >= 20
    missing = []
    for name, _ in commands:
        result = CliRunner().invoke(app, [*name.split(), "--help"], env={"COLUMNS": "200"})
        if result.exit_code != 0 or "Example" not in result.output:
            missing.append(name)
    assert missing == [], f"commands without an example in --help: {missing}"
