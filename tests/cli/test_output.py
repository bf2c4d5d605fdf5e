"""Console defaults: errors are never folded; tables and prose fold to the terminal."""

from __future__ import annotations

import pytest

from homeport.cli.output import console

LONG = "error: /a/very/long/temporary/path/" + "x" * 150 + "/homeport.toml: what is wrong"


def test_errors_on_stderr_stay_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    console(stderr=True).print(LONG, markup=False)
    assert capsys.readouterr().err == LONG + "\n"


def test_standard_output_folds_unless_told_not_to(capsys: pytest.CaptureFixture[str]) -> None:
    console().print(LONG, markup=False)
    assert capsys.readouterr().out.count("\n") > 1
    console(wrap=False).print(LONG, markup=False)
    assert capsys.readouterr().out == LONG + "\n"
