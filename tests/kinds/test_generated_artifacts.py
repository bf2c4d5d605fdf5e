"""crds/ and docs/manifests.md are generated from the models and must be fresh."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from homeport.kinds import KIND_MODELS
from homeport.kinds.reference import render_reference
from homeport.kinds.schema import kind_crd, rendered_files

ROOT = Path(__file__).parents[2]


def test_crds_are_fresh() -> None:
    for name, text in rendered_files().items():
        path = ROOT / "crds" / name
        assert path.exists(), f"{path} missing: run `homeport schema --out crds/`"
        assert path.read_text() == text, f"{path} is stale: run `homeport schema --out crds/`"


def test_manifest_reference_is_fresh() -> None:
    path = ROOT / "docs" / "manifests.md"
    assert path.read_text() == render_reference(), "run `homeport docs --out docs/manifests.md`"


def _walk(node: object) -> list[dict[str, object]]:
    if isinstance(node, dict):
        return [node, *(n for v in node.values() for n in _walk(v))]
    if isinstance(node, list):
        return [n for v in node for n in _walk(v)]
    return []


def test_crds_are_structural() -> None:
    """Kubernetes rejects $ref, const, anyOf-with-null and additionalProperties next to properties."""
    for model in KIND_MODELS:
        crd = kind_crd(model)
        for node in _walk(crd["spec"]):
            assert "$ref" not in node
            assert "const" not in node
            assert "patternProperties" not in node
            assert not ("properties" in node and "additionalProperties" in node)
            if "anyOf" in node:
                assert all("type" not in o or o["type"] != "null" for o in node["anyOf"])


def test_every_field_has_a_description() -> None:
    for model in KIND_MODELS:
        schema = json.loads(rendered_files()[f"{model.kind_name.lower()}.schema.json"])
        for name, definition in schema["$defs"].items():
            for field, prop in definition.get("properties", {}).items():
                assert prop.get("description"), f"{name}.{field} has no docstring"


def test_example_manifest_validates_against_combined_schema_shape() -> None:
    combined = json.loads((ROOT / "crds" / "homeport.schema.json").read_text())
    kinds = combined["properties"]["kind"]["enum"]
    assert sorted(kinds) == sorted(m.kind_name for m in KIND_MODELS)
    assert (
        yaml.safe_load((ROOT / "crds" / "vm.crd.yaml").read_text())["spec"]["names"]["plural"]
        == "vms"
    )
