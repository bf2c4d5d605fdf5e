"""The read commands validate only the config sections they use (``[store]``,
``[coordination]``): a mistake elsewhere does not hide the estate from ``homeport status``,
while every command that acts still refuses the whole file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from tests.cli.test_read_cli import config

__all__ = ["config"]  # the fixture: a store with the example estate, no daemon

READS = [
    ["status"],
    ["get", "vms"],
    ["describe", "vm", "shop-a"],
    ["events"],
    ["estate", "status"],
]


def invoke(config: Path, appended: str, *args: str) -> tuple[int, str, str]:
    """``homeport ARGS`` with ``appended`` added to the config file."""
    with config.open("a") as f:
        f.write(appended)
    result = CliRunner().invoke(app, [*args, "--config", str(config)], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


ELSEWHERE = "[proxmox]\nport = 'eight thousand'\n[notify]\nsinks = 'everywhere'\n"


@pytest.mark.parametrize("args", READS)
def test_a_mistake_in_a_section_a_read_does_not_use_does_not_stop_it(
    config: Path, args: list[str]
) -> None:
    assert invoke(config, ELSEWHERE, *args)[::2] == (0, "")


def test_the_same_mistake_stops_a_command_that_acts(config: Path) -> None:
    code, _, err = invoke(config, ELSEWHERE, "plan")
    assert code == 2
    assert err.startswith(
        f"error: {config}: [proxmox.port] Input should be a valid integer, unable to parse "
        "string as an integer; [notify.sinks] Input should be a valid list"
    )


@pytest.mark.parametrize("args", READS)
def test_a_mistake_in_store_or_coordination_stops_a_read_with_the_fix(
    config: Path, args: list[str]
) -> None:
    assert invoke(config, '[coordination]\nbackend = "etcd"\n', *args) == (
        2,
        "",
        f'error: {config}: [coordination] backend = "etcd" needs endpoints '
        "(the members' client URLs)\n",
    )
