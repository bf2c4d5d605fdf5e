"""The broken-manifest corpus: every file yields its expected `file:line` message and exit 1.

Each file under ``broken/`` starts with ``# expect: LINE: TEXT``; validating the file alone
must report a problem at LINE whose rendering contains TEXT.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.source.validate import validate_paths

CORPUS = Path(__file__).parent / "broken"
CASES = sorted(CORPUS.glob("*.yaml"))
_EXPECT = re.compile(rb"^# expect: (\d+): (.+)$")


def expectation(path: Path) -> tuple[int, str]:
    first = path.read_bytes().split(b"\n", 1)[0]
    match = _EXPECT.match(first)
    if match is None:  # binary files cannot carry a header
        return 1, "binary file, not YAML"
    return int(match.group(1)), match.group(2).decode()


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_broken_manifest_reports_its_line(path: Path) -> None:
    line, text = expectation(path)
    result = validate_paths([path])
    rendered = [error.render() for error in result.errors]
    assert any(error.line == line and text in error.render() for error in result.errors), (
        f"expected {path.name}:{line}: ...{text}..., got:\n" + "\n".join(rendered)
    )
    for error in result.errors:
        assert error.render().startswith(f"{path}:{error.line}: ")


@pytest.mark.parametrize("path", CASES[:5], ids=lambda p: p.stem)
def test_cli_exits_1_with_one_line_per_problem(path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:" in result.output
    assert "Traceback" not in result.output
