"""Output for scripts, like kubectl: every command with ``-o`` prints ONE valid JSON or
YAML document in those formats, ``-o name`` prints ``kind/name`` lines, a pipe gets whole
lines (nothing folded or cut), ``-l`` selects by label, ``events`` filters, ``-h`` is
``--help``, help prose flows to the terminal and flags show no ``<bool>``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from homeport.cli.completion import complete_kind
from homeport.cli.helpfmt import reflow
from homeport.cli.main import app
from homeport.cli.selector import SelectorError, parse_selector
from homeport.controller.store import Store
from testkit.example_estate import example_estate
from tests.cli.test_read_cli import _commands, config, run

__all__ = ["config"]  # the fixture, shared with test_read_cli

# Every command with -o, and how to run it against the store-only fixture. Commands that
# talk to Proxmox run against a live estate in tests/integration/test_first_push.py.
STORE_INVOCATIONS: dict[str, list[str]] = {
    "status": ["status"],
    "get": ["get", "all"],
    "describe": ["describe", "vm", "shop-a"],
    "events": ["events"],
    "estate status": ["estate", "status"],
}
VALIDATE = ["validate", str(Path(__file__).parents[2] / "manifests")]
LIVE = {"plan", "audit", "backup now", "restore", "estate shutdown", "estate start"}


def output_commands() -> dict[str, list[str]]:
    """Each command of the typer app that has ``-o``, with the formats it offers."""
    found = {}
    for name, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            if "-o" in getattr(param, "opts", []):
                found[name] = [str(c) for c in param.type_descriptor.choices]
    return found


def check_format(fmt: str, text: str) -> Any:
    """The output parsed as the format promises; raises if it is not that."""
    if fmt == "json":
        return json.loads(text)
    if fmt == "yaml":
        return yaml.safe_load(text)
    if fmt == "name":
        lines = text.splitlines()
        assert lines and all(line.count("/") == 1 and " " not in line for line in lines), text
    else:
        assert text.strip()
    return text


def test_every_command_with_output_is_covered() -> None:
    commands = output_commands()
    assert set(commands) == set(STORE_INVOCATIONS) | LIVE | {"validate"}
    assert all({"text", "json", "yaml"} <= set(formats) for formats in commands.values())


@pytest.mark.parametrize(
    ("command", "fmt"),
    [(c, f) for c in STORE_INVOCATIONS for f in output_commands()[c]],
)
def test_every_store_command_prints_its_format(config: Path, command: str, fmt: str) -> None:
    check_format(fmt, run(config, *STORE_INVOCATIONS[command], "-o", fmt))


@pytest.mark.parametrize("fmt", ["text", "wide", "json", "yaml"])
def test_validate_prints_its_format(fmt: str) -> None:
    result = CliRunner().invoke(app, [*VALIDATE, "-o", fmt])
    assert result.exit_code == 0, result.output
    check_format(fmt, result.stdout)


def test_events_json_is_one_document_and_yaml_is_yaml(config: Path) -> None:
    events = json.loads(run(config, "events", "-o", "json"))
    assert [e["reason"] for e in events] == ["Unhealthy"]
    assert yaml.safe_load(run(config, "events", "-o", "yaml")) == events


def test_events_filter_by_object_and_type(config: Path) -> None:
    store = Store.open(config.parent / "state.db")
    store.events.emit(
        kind="VM",
        name="shop-a",
        reason="Cloned",
        message="clone",
        now=__import__("datetime").datetime.now(),
    )
    store.events.emit(
        kind="Estate",
        name="power",
        reason="EstateShutdown",
        message="layer 4",
        now=__import__("datetime").datetime.now(),
    )
    store.close()

    def reasons(*args: str) -> list[str]:
        return [e["reason"] for e in json.loads(run(config, "events", *args, "-o", "json"))]

    assert reasons() == ["Unhealthy", "Cloned", "EstateShutdown"]
    assert reasons("--type", "Warning") == ["Unhealthy"]
    assert reasons("--type", "Normal") == ["Cloned", "EstateShutdown"]
    assert reasons("--for", "estate/power") == ["EstateShutdown"]  # no manifest, still events
    assert reasons("--for", "vm/shop-a") == ["Cloned"]
    assert reasons("--for", "app/shop-b", "--type", "Normal") == []
    bad = CliRunner().invoke(app, ["events", "--for", "shop-a", "--config", str(config)])
    assert bad.exit_code == 2 and "KIND/NAME" in bad.output


def test_a_pipe_gets_whole_lines(config: Path) -> None:
    """At 80 columns, piped: no `KI…`, no message folded onto a second line."""
    wide = run(config, "get", "all", "-o", "wide", width=80)
    header, *rows = wide.splitlines()
    assert header.split() == [
        "KIND",
        "NAME",
        "STATE",
        "AGE",
        "GEN",
        "REVISION",
        "SOURCE",
        "DETAILS",
        "MESSAGE",
    ]
    assert "…" not in wide and len(rows) == example_estate().objects
    assert all(
        row.split()[0]
        in {"Machine", "VM", "App", "StandbyPair", "ProxyRoute", "BackupPolicy", "Agent"}
        for row in rows
    )
    shop_b = next(r for r in rows if r.split()[:2] == ["App", "shop-b"])
    assert len(shop_b) > 80
    assert f"{Path(__file__).parents[2]}/manifests/apps/shop.yaml:" in shop_b
    assert shop_b.rstrip().endswith("at 100.64.0.7:8080   health check fails: status 500")
    pair = next(line for line in run(config, "status", width=80).splitlines() if "shop:" in line)
    assert pair.startswith("Pair") and pair.endswith("lost ≤ 1.5s")


def test_no_headers_and_name(config: Path) -> None:
    rows = run(config, "get", "vms", "--no-headers").splitlines()
    assert len(rows) == 10 and not any(r.startswith("KIND") for r in rows)
    names = run(config, "get", "vms", "-o", "name").splitlines()
    assert names[0].startswith("vm/") and len(names) == 10
    assert run(config, "get", "app", "shop-b", "-o", "name") == "app/shop-b\n"


def test_label_selector(config: Path) -> None:
    assert run(config, "get", "vm", "-l", "env=dev", "-o", "name") == "vm/dev-1\n"
    everything = set(run(config, "get", "all", "-o", "name").splitlines())
    site = set(run(config, "get", "all", "-l", "site", "-o", "name").splitlines())
    no_site = set(run(config, "get", "all", "-l", "!site", "-o", "name").splitlines())
    assert site and all(n.startswith("machine/") for n in site)
    assert site | no_site == everything and not site & no_site
    not_dev = set(run(config, "get", "vm", "-l", "env!=dev", "-o", "name").splitlines())
    assert "vm/dev-1" not in not_dev and len(not_dev) == 9
    bad = CliRunner().invoke(app, ["get", "vm", "-l", "env==", "--config", str(config)])
    assert bad.exit_code == 0  # `env==` is env equal to the empty value, as in kubectl
    worse = CliRunner().invoke(app, ["get", "vm", "-l", "!env=x", "--config", str(config)])
    assert worse.exit_code == 2 and "cannot parse" in worse.output


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a!=b", {}, True),
        ("a!=b", {"a": "b"}, False),
        ("a", {"a": ""}, True),
        ("!a", {"a": "x"}, False),
        ("a=b,c!=d", {"a": "b", "c": "e"}, True),
        ("a=b,c!=d", {"a": "b", "c": "d"}, False),
        ("example.com/tier=web", {"example.com/tier": "web"}, True),
    ],
)
def test_selector_semantics(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(text).matches(labels) is matches


@pytest.mark.parametrize("text", ["", "a=b,", "=b", "a b", "!a=b", "a=b=c"])
def test_selector_errors(text: str) -> None:
    with pytest.raises(SelectorError, match="key=value"):
        parse_selector(text)


def test_dash_h_is_help_everywhere() -> None:
    for name, _ in _commands(typer.main.get_command(app)):
        result = CliRunner().invoke(app, [*name.split(), "-h"], env={"COLUMNS": "120"})
        assert result.exit_code == 0 and "Usage" in result.output, name


@pytest.mark.parametrize("width", [80, 200])
def test_help_prose_flows_and_flags_show_no_type(width: int) -> None:
    text = (
        CliRunner()
        .invoke(app, ["estate", "shutdown", "--help"], env={"COLUMNS": str(width)})
        .output
    )
    assert "<bool>" not in text
    if width == 200:  # one paragraph, one line: not broken where the source broke it
        assert any(
            "fails over) until homeport estate start. Example:" in line
            for line in text.splitlines()
        )


def test_reflow_keeps_verbatim_blocks_and_lists() -> None:
    assert reflow("One\ntwo.\n\n\b\nkeep\nthis\n\n- a\n- b\n  more") == (
        "One two.\n\n\b\nkeep\nthis\n\n- a\n- b more"
    )


def test_completion_of_kinds_and_names(config: Path) -> None:
    assert "vms" in complete_kind("v") and "machine" not in complete_kind("v")
    from homeport.cli.completion import complete_kind_slash_name, complete_name

    ctx = typer.Context(typer.main.get_command(app))
    ctx.params = {"config": str(config), "kind": "vm"}
    assert complete_name(ctx, "shop") == ["shop-a", "shop-b"]
    assert complete_kind_slash_name(ctx, "app/shop") == ["app/shop-a", "app/shop-b"]
    ctx.params = {"config": str(config.parent / "missing.toml"), "kind": "vm"}
    assert complete_name(ctx, "") == []  # no store: nothing, and no traceback


def test_the_shell_completes_names_from_the_store(config: Path) -> None:
    """What bash receives after `homeport --install-completion`: the real machinery."""
    words = f"homeport get vm --config {config} shop"
    env = {"_HOMEPORT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "5"}
    result = CliRunner().invoke(app, [], env=env, prog_name="homeport")
    assert result.stdout.split() == ["shop-a", "shop-b"]
