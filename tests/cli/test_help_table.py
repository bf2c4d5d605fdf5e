"""``homeport --help`` lists the commands from a table (``cli/main.py``: ``SUMMARIES``)
instead of importing each: the table must say what the commands themselves say, so the
help reads the same either way."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from homeport.cli.main import COMMANDS, SUMMARIES, HomeportGroup, app

ENV = {"COLUMNS": "100", "TTY_COMPATIBLE": "0"}


def test_every_command_has_its_own_first_paragraph_in_the_table() -> None:
    group = typer.main.get_group(app)
    assert list(SUMMARIES) == list(COMMANDS)
    for name in COMMANDS:
        command = group.commands[name]  # imports the command: its real, tidied help
        first = (command.short_help or command.help or "").partition("\f")[0]
        assert SUMMARIES[name] == first.split("\n\n")[0], name


@pytest.mark.parametrize("args", [["--help"], []])
def test_the_help_is_the_same_as_with_every_command_imported(
    monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    listed = CliRunner().invoke(app, args, env=ENV)
    monkeypatch.setattr(HomeportGroup, "summaries", {})  # no table: each command loaded
    loaded = CliRunner().invoke(app, args, env=ENV)
    assert "Swap a pair's primary and standby now." in listed.stdout
    assert listed.stdout == loaded.stdout
    assert listed.exit_code == loaded.exit_code


def test_completing_a_command_name_is_the_same_as_with_every_command_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def complete(incomplete: str) -> list[tuple[str, str | None]]:
        group = typer.main.get_group(app)
        ctx = group.make_context("homeport", [], resilient_parsing=True)
        return [(item.value, item.help) for item in group.shell_complete(ctx, incomplete)]

    listed = complete("re")
    assert [value for value, _ in listed] == ["reconcile", "resume", "restore"]
    monkeypatch.setattr(HomeportGroup, "summaries", {})
    assert complete("re") == listed
