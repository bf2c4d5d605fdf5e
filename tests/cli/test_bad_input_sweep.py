"""Every command of the ``homeport`` app, enumerated from the typer app itself (a new
command without an entry in ``UNKNOWN_NAMES`` fails ``test_every_command_is_swept``),
given bad input: a missing config, a directory or garbage as the config, no store, names
that do not exist, an unknown revision, garbage option values. Each answers with lines
saying what is wrong and the documented exit code (docs/operations.md#exit-codes) — never
a traceback.

The commands run in-process through ``homeport.cli.main.main`` (what the ``homeport``
script runs), so an exception escaping a command fails the test with its traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from homeport.cli.main import app, main
from homeport.controller.store import Store
from homeport.source.hooks import init_repository
from tests.daemon_config import write_daemon_config

Command = tuple[str, ...]


def commands() -> Iterator[tuple[Command, typer.core.TyperCommand]]:
    def walk(
        group: TyperGroup, prefix: Command
    ) -> Iterator[tuple[Command, typer.core.TyperCommand]]:
        for name, command in sorted(group.commands.items()):
            if isinstance(command, TyperGroup):
                yield from walk(command, (*prefix, name))
            else:
                yield (*prefix, name), command  # type: ignore[misc]

    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    return walk(root, ())


ALL = dict(commands())
WITH_CONFIG = sorted(c for c, cmd in ALL.items() if any("--config" in p.opts for p in cmd.params))

# Exit code for names that do not exist (docs/operations.md#exit-codes); None: the
# command takes no object name (other cases below cover it).
UNKNOWN_NAMES: dict[Command, tuple[list[str], int] | None] = {
    ("approve",): None,
    ("audit",): None,
    ("backup", "now"): (["nosuch"], 2),
    ("demo",): None,
    ("describe",): (["vm", "nosuch"], 1),
    ("docs",): None,
    ("estate", "shutdown"): None,
    ("estate", "start"): None,
    ("estate", "status"): None,
    ("events",): None,
    ("failback",): (["nosuch"], 1),
    ("failover",): (["nosuch"], 1),
    ("get",): (["vm", "nosuch"], 1),
    ("init",): None,
    ("logs",): (["nosuch"], 1),
    ("plan",): None,
    ("reconcile",): (["vm", "nosuch"], 1),
    ("restore",): (["nosuch", "--from", "latest", "--yes"], 2),
    ("resume",): (["vm", "nosuch"], 1),
    ("run",): None,
    ("schema",): None,
    ("sim", "check"): None,
    ("sim", "fault"): None,
    ("sim", "up"): None,
    ("status",): None,
    ("suspend",): (["vm", "nosuch"], 1),
    ("validate",): None,
}
# An unknown kind is a usage error (2) for every command that takes one.
UNKNOWN_KIND = [c for c, case in UNKNOWN_NAMES.items() if case and case[0][0] == "vm"]


@dataclass
class Answer:
    code: int
    out: str
    err: str

    def assert_one_line_error(self, code: int) -> None:
        assert self.code == code, (self.code, self.out, self.err)
        lines = self.err.strip().splitlines()
        assert lines and all(line.startswith("error: ") for line in lines), self.err
        assert "Traceback" not in self.out + self.err


Runner = Callable[..., Answer]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    def invoke(*argv: str) -> Answer:
        monkeypatch.setattr(sys, "argv", ["homeport", *argv])
        with pytest.raises(SystemExit) as exited:
            main()  # any other exception fails the test, with its traceback
        captured = capsys.readouterr()
        code = exited.value.code
        return Answer(code if isinstance(code, int) else 1, captured.out, captured.err)

    return invoke


# What a command needs besides its config to get as far as reading it.
ARGUMENTS: dict[Command, list[str]] = {
    ("approve",): ["0123456789abcdef0123456789abcdef01234567"],
    ("estate", "shutdown"): ["--yes"],
}


def required_arguments(command: Command) -> list[str]:
    case = UNKNOWN_NAMES.get(command)
    if case:
        return case[0]
    if command in ARGUMENTS:
        return ARGUMENTS[command]
    return ["nosuch" for p in ALL[command].params if p.param_type_name == "argument" and p.required]


def test_every_command_is_swept() -> None:
    assert set(ALL) == set(UNKNOWN_NAMES), "declare new commands in UNKNOWN_NAMES"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = write_daemon_config(tmp_path)
    init_repository(tmp_path / "estate.git")
    text = path.read_text().replace('directory = "manifests"', 'repo = "estate.git"')
    path.write_text(text)
    return path


@pytest.mark.parametrize("command", WITH_CONFIG, ids=" ".join)
def test_a_missing_config(command: Command, tmp_path: Path, run: Runner) -> None:
    answer = run(*command, *required_arguments(command), "--config", str(tmp_path / "nope.toml"))
    answer.assert_one_line_error(2)
    assert "no such config file" in answer.err


@pytest.mark.parametrize("command", WITH_CONFIG, ids=" ".join)
def test_a_directory_as_config(command: Command, tmp_path: Path, run: Runner) -> None:
    answer = run(*command, *required_arguments(command), "--config", str(tmp_path))
    answer.assert_one_line_error(2)
    assert "is a directory" in answer.err


@pytest.mark.parametrize("command", WITH_CONFIG, ids=" ".join)
def test_garbage_as_config(command: Command, tmp_path: Path, run: Runner) -> None:
    garbage = tmp_path / "homeport.toml"
    garbage.write_bytes(b"\xff\xfe[[[ not toml\n")
    answer = run(*command, *required_arguments(command), "--config", str(garbage))
    answer.assert_one_line_error(2)


# `run` creates its store; every other command needs one.
NO_STORE = [c for c in WITH_CONFIG if c != ("run",)]


@pytest.mark.parametrize("command", NO_STORE, ids=" ".join)
def test_no_store_yet(command: Command, config: Path, run: Runner) -> None:
    answer = run(*command, *required_arguments(command), "--config", str(config))
    answer.assert_one_line_error(2)


NAMED = [c for c, case in UNKNOWN_NAMES.items() if case]


@pytest.mark.parametrize("command", NAMED, ids=" ".join)
def test_unknown_names(command: Command, config: Path, run: Runner) -> None:
    Store.open(config.parent / "state.db").close()
    arguments, code = UNKNOWN_NAMES[command]  # type: ignore[misc]
    answer = run(*command, *arguments, "--config", str(config))
    assert answer.code == code, (answer.out, answer.err)
    assert "nosuch" in answer.out + answer.err
    assert "Traceback" not in answer.out + answer.err


@pytest.mark.parametrize("command", UNKNOWN_KIND, ids=" ".join)
def test_unknown_kinds(command: Command, config: Path, run: Runner) -> None:
    Store.open(config.parent / "state.db").close()
    answer = run(*command, "gizmo", "nosuch", "--config", str(config))
    answer.assert_one_line_error(2)
    assert "gizmo" in answer.err


def test_an_unknown_revision(config: Path, run: Runner) -> None:
    Store.open(config.parent / "state.db").close()
    answer = run("plan", "--revision", "deadbeef", "--config", str(config))
    answer.assert_one_line_error(2)
    assert "deadbeef" in answer.err


NUMERIC = sorted(
    (c, p.opts[0])
    for c, cmd in ALL.items()
    for p in cmd.params
    if p.param_type_name == "option" and p.bare_type() in ("int", "float")
)


@pytest.mark.parametrize(
    ("command", "option"), NUMERIC, ids=lambda v: " ".join(v) if isinstance(v, tuple) else v
)
def test_garbage_numbers_are_usage_errors(
    command: Command, option: str, config: Path, run: Runner
) -> None:
    answer = run(*command, *required_arguments(command), option, "garbage")
    assert answer.code == 2, (answer.out, answer.err)
    assert "Invalid value" in answer.err and "Traceback" not in answer.err


def _no_config_cases(tmp: Path) -> dict[Command, tuple[list[str], int, str]]:
    """Commands without a config: bad paths and values (args, exit code, text shown)."""
    a_file = tmp / "a-file"
    a_file.write_text("not a directory\n")
    return {
        ("validate",): ([str(tmp / "nope")], 1, "No such file or directory"),
        ("init",): (["--repo", str(a_file)], 1, "cannot initialise"),
        ("schema",): (["--out", str(a_file)], 2, "cannot write"),
        ("docs",): (["--out", str(a_file / "x.md")], 2, "cannot write"),
        ("demo",): (["--manifests", str(tmp / "nope")], 2, "not found"),
        ("sim", "check"): (["--state", str(tmp / "nope")], 2, "not found"),
        ("sim", "fault"): (
            ["crash_vm", "--vm", "web", "--state", str(tmp / "nope")],
            2,
            "not found",
        ),
        ("sim", "up"): (["--tls", "garbage", "--state", str(tmp / "s")], 2, "garbage"),
    }


NO_CONFIG = sorted(set(ALL) - set(WITH_CONFIG))


@pytest.mark.parametrize("command", NO_CONFIG, ids=" ".join)
def test_commands_without_a_config_on_bad_input(
    command: Command, tmp_path: Path, run: Runner
) -> None:
    cases = _no_config_cases(tmp_path)
    assert command in cases, "declare the new command's bad input in _no_config_cases"
    arguments, code, shown = cases[command]
    answer = run(*command, *arguments)
    assert answer.code == code, (answer.out, answer.err)
    assert shown in answer.out + answer.err
    assert "Traceback" not in answer.out + answer.err
