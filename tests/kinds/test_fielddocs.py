"""The fields' descriptions are built only by what shows them (``homeport/fielddocs.py``),
and come out the same whatever this process did with the models before.

Each probe is a fresh interpreter: the models are process-wide, and the point is the
order in which things happen to them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = """
import json, sys
from homeport.kinds.reference import render_reference
from homeport.kinds.schema import rendered_files
print(json.dumps({"reference": render_reference(), **rendered_files()}))
"""
# Builds every model's validator (a whole manifest validated, statuses read) first.
VALIDATE_FIRST = """
from homeport.kinds import KIND_MODELS, ObjectStatus
from homeport.source.validate import validate_paths
result = validate_paths([__import__("pathlib").Path(sys.argv[1]) / "manifests"])
assert result.objects and not result.errors
ObjectStatus.model_validate({"observedGeneration": 1})
assert all(model.__pydantic_complete__ for model in KIND_MODELS)
"""
DESCRIBED = """
from homeport.kinds.vm import VMSpec
from homeport.source.validate import validate_paths
validate_paths([__import__("pathlib").Path(sys.argv[1]) / "manifests"])
print(json.dumps(VMSpec.model_fields["memory_mib"].description))
"""


def _run(code: str) -> str:
    ran = subprocess.run(
        [sys.executable, "-c", "import json, sys\n" + code, str(ROOT)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return ran.stdout


def test_schemas_and_reference_are_the_same_after_the_models_were_built() -> None:
    fresh = json.loads(_run(ARTIFACTS))
    after = json.loads(_run(VALIDATE_FIRST + ARTIFACTS))
    assert after == fresh
    # And the descriptions are in them (what the checked-in artifacts hold: the
    # freshness test compares those with a fresh render).
    vm_spec = json.loads(fresh["vm.schema.json"])["$defs"]["VMSpec"]
    assert vm_spec["properties"]["memoryMiB"]["description"] == "Memory in MiB."
    assert "| `memoryMiB` | integer (> 0) | `2048` | Memory in MiB. |" in fresh["reference"]


def test_validation_does_not_read_the_docstrings() -> None:
    """The hook and the read commands validate; none of them shows a description."""
    assert json.loads(_run(DESCRIBED)) is None
