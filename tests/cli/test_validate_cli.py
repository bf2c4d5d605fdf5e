from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from homeport.cli.main import app
from testkit.example_estate import example_estate

ROOT = Path(__file__).parents[2]
runner = CliRunner()


def test_valid_estate_prints_a_one_line_summary() -> None:
    result = runner.invoke(app, ["validate", str(ROOT / "manifests")])
    assert result.exit_code == 0
    estate = example_estate()
    assert result.output.startswith(f"valid: {estate.objects} objects in {estate.files} file(s)")
    assert len(result.output.strip().splitlines()) == 1


def test_json_output_lists_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: homeport.dev/v1alpha1\nkind: VM\nmetadata: {name: x}\nspec: {}\n")
    result = runner.invoke(app, ["validate", str(bad), "-o", "json"])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)
    assert problems == [
        {
            "file": str(bad),
            "line": 4,
            "kind": "VM",
            "name": "x",
            "message": "missing required field 'spec.machine' (add it)",
        }
    ]


def test_missing_path_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_schema_check_detects_stale_files(tmp_path: Path) -> None:
    assert runner.invoke(app, ["schema", "--out", str(tmp_path)]).exit_code == 0
    assert runner.invoke(app, ["schema", "--check", "--out", str(tmp_path)]).exit_code == 0
    (tmp_path / "vm.crd.yaml").write_text("stale")
    assert runner.invoke(app, ["schema", "--check", "--out", str(tmp_path)]).exit_code == 1


def test_a_symlinked_manifest_is_refused_and_limits_are_options(tmp_path: Path) -> None:
    (tmp_path / "machines.yaml").write_text(
        "apiVersion: homeport.dev/v1alpha1\nkind: Machine\nmetadata: {name: m1}\n"
        "spec: {node: pve1, capacity: {cores: 8, memoryMiB: 16384}}\n"
    )
    (tmp_path / "link.yaml").symlink_to(tmp_path / "machines.yaml")
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path}/link.yaml:1: Unknown/-: a symbolic link to {tmp_path}/machines.yaml" in (
        result.output
    )
    (tmp_path / "link.yaml").unlink()
    assert runner.invoke(app, ["validate", str(tmp_path)]).exit_code == 0
    result = runner.invoke(app, ["validate", str(tmp_path), "--max-estate-bytes", "10"])
    assert result.exit_code == 1
    assert "more than the estate limit of 10 bytes" in result.output
    assert "Traceback" not in result.output
