"""Console defaults: errors are never folded; on a terminal, tables and prose fold to its
width; on a pipe nothing folds, so every line reaches grep and awk whole."""

from __future__ import annotations

import json

import pytest
import yaml

from homeport.cli.output import console, print_data, print_record

LONG = "error: /a/very/long/temporary/path/" + "x" * 150 + "/homeport.toml: what is wrong"


def test_errors_on_stderr_stay_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    console(stderr=True).print(LONG, markup=False)
    assert capsys.readouterr().err == LONG + "\n"


def test_a_terminal_folds_unless_told_not_to(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "80")
    console().print(LONG, markup=False)
    assert capsys.readouterr().out.count("\n") > 1
    console(wrap=False).print(LONG, markup=False)
    assert capsys.readouterr().out == LONG + "\n"


def test_a_pipe_never_folds(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    monkeypatch.setenv("COLUMNS", "80")
    console().print(LONG, markup=False)
    assert capsys.readouterr().out == LONG + "\n"


def test_yaml_carries_what_json_carries(capsys: pytest.CaptureFixture[str]) -> None:
    """Dates and paths become strings in both formats: YAML never fails on a type."""
    from datetime import UTC, datetime
    from pathlib import Path

    data = {"at": datetime(2026, 1, 2, tzinfo=UTC), "file": Path("/x/y.yaml"), "n": [1, 2]}
    print_data(data, "json")
    as_json = json.loads(capsys.readouterr().out)
    print_data(data, "yaml")
    assert yaml.safe_load(capsys.readouterr().out) == as_json


def test_stream_records_are_json_lines_and_yaml_documents(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for n in range(3):
        print_record({"n": n, "text": "a\nb"}, "json")
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["n"] for line in lines] == [0, 1, 2]
    for n in range(3):
        print_record({"n": n}, "yaml")
    assert [d["n"] for d in yaml.safe_load_all(capsys.readouterr().out)] == [0, 1, 2]


def test_progress_is_plain_lines_on_a_pipe(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from homeport.cli.progress import reporting, say

    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    say("nobody listens")  # outside a command: a no-op
    with reporting("backup now"):
        say("back up VM 1004 [now]")
        say("waiting")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "backup now: back up VM 1004 [now]\nbackup now: waiting\n"


def test_progress_on_a_terminal_keeps_each_step(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from homeport.cli.progress import reporting, say

    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    with reporting("plan"):
        say("observing VM/[shop-a]")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "observing VM/[shop-a]" in captured.err  # not eaten as markup
