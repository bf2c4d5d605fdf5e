"""The broken-manifest corpus: every file yields its expected `file:line` message and exit 1.

Each file under ``broken/`` starts with ``# expect: LINE: TEXT`` lines; validating the file
alone must report, for each, a problem at LINE whose rendering contains TEXT. A following
``# exactly`` line means no other problem may be reported (no false errors).
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


def expectations(path: Path) -> tuple[list[tuple[int, str]], bool]:
    """The expected (line, text) pairs, and whether they are all the problems."""
    found: list[tuple[int, str]] = []
    exactly = False
    for header in path.read_bytes().split(b"\n"):
        match = _EXPECT.match(header)
        if match is not None:
            found.append((int(match.group(1)), match.group(2).decode()))
        elif header == b"# exactly":
            exactly = True
        else:
            break
    if not found:  # binary files cannot carry a header
        return [(1, "binary file, not YAML")], False
    return found, exactly


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_broken_manifest_reports_its_line(path: Path) -> None:
    expected, exactly = expectations(path)
    result = validate_paths([path])
    rendered = [error.render() for error in result.errors]
    for line, text in expected:
        assert any(error.line == line and text in error.render() for error in result.errors), (
            f"expected {path.name}:{line}: ...{text}..., got:\n" + "\n".join(rendered)
        )
    if exactly:
        assert len(rendered) == len(expected), "unexpected problems:\n" + "\n".join(rendered)
    for error in result.errors:
        assert error.render().startswith(f"{path}:{error.line}: ")


@pytest.mark.parametrize("path", CASES[:5], ids=lambda p: p.stem)
def test_cli_exits_1_with_one_line_per_problem(path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:" in result.output
    assert "Traceback" not in result.output


def test_an_app_over_max_apps_names_the_fix() -> None:
    result = validate_paths([CORPUS / "apps-per-vm.yaml"])
    (error,) = result.errors
    assert error.fix is not None and "set maxApps: 2 on VM 'web'" in error.fix
    assert "one app per VM" in error.fix
