"""JSON Schemas and Kubernetes-style CRDs generated from the kind models.

``homeport schema --out crds/`` writes them (checked in; a test fails when stale). The
combined ``homeport.schema.json`` serves editors through yaml-language-server's
``# yaml-language-server: $schema=`` modeline, for files that mix kinds.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from homeport.fielddocs import describe
from homeport.kinds import KIND_MODELS
from homeport.kinds.common import API_VERSION, ObjectStatus, Resource

GROUP, VERSION = API_VERSION.split("/")
SCHEMA_BASE = "https://homeport.dev/schemas/v1alpha1"


@cache
def describe_kinds() -> None:
    """The fields' docstrings as their descriptions, for the schemas and the reference
    (``homeport/fielddocs.py``: validation never needs them, so they are built here)."""
    describe(*KIND_MODELS, ObjectStatus)


def kind_schema(model: type[Resource]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one kind's manifest."""
    describe_kinds()
    schema = model.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"{SCHEMA_BASE}/{model.kind_name.lower()}.schema.json"
    schema["title"] = model.kind_name
    return schema


def combined_schema() -> dict[str, Any]:
    """One schema for files holding any kinds, dispatching on `kind`."""
    describe_kinds()
    refs, top = models_json_schema(
        [(model, "validation") for model in KIND_MODELS],
        by_alias=True,
        ref_template="#/$defs/{model}",
    )
    branches = []
    for model in KIND_MODELS:
        ref = refs[(model, "validation")]["$ref"]
        condition = {"properties": {"kind": {"const": model.kind_name}}}
        branches.append({"if": condition, "then": {"$ref": ref}})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}/homeport.schema.json",
        "title": "homeport manifest",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"kind": {"enum": [m.kind_name for m in KIND_MODELS]}},
        "allOf": branches,
        "$defs": top["$defs"],
    }


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Resolve $refs and rewrite JSON Schema into a Kubernetes structural OpenAPI v3 schema."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs)
    out: dict[str, Any] = {}
    options = node.get("anyOf")
    if options is not None:
        non_null = [o for o in options if o.get("type") != "null"]
        if len(non_null) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            result = _inline({**non_null[0], **rest}, defs)
            result["nullable"] = True
            return dict(result)
    for key, value in node.items():
        if key == "$defs" or (key == "additionalProperties" and value is False):
            continue  # structural schemas forbid additionalProperties next to properties
        if key == "patternProperties" and len(value) == 1:
            # Structural schemas have no patternProperties; the validator enforces the keys.
            out["additionalProperties"] = _inline(next(iter(value.values())), defs)
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "properties":
            out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _inline(value, defs)
    if "properties" in out:
        out.setdefault("type", "object")
    return out


def _structural(model_schema: dict[str, Any]) -> dict[str, Any]:
    defs = model_schema.get("$defs", {})
    return dict(_inline({k: v for k, v in model_schema.items() if k != "$defs"}, defs))


def kind_crd(model: type[Resource]) -> dict[str, Any]:
    """An apiextensions.k8s.io/v1 CustomResourceDefinition for one kind."""
    describe_kinds()
    spec_schema = _structural(model.model_json_schema(by_alias=True))["properties"]["spec"]
    status_schema = _structural(ObjectStatus.model_json_schema(by_alias=True))
    for schema in (spec_schema, status_schema):
        schema.pop("title", None)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{model.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": model.kind_name,
                "listKind": f"{model.kind_name}List",
                "plural": model.plural,
                "singular": model.kind_name.lower(),
                "shortNames": [s for s in model.short_names if s != model.kind_name.lower()],
            },
            "scope": "Cluster",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": "Ready",
                            "type": "string",
                            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (model.__doc__ or "").strip(),
                            "required": ["apiVersion", "kind", "metadata", "spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def rendered_files() -> dict[str, str]:
    """File name → content of everything under ``crds/``."""
    files: dict[str, str] = {}
    for model in KIND_MODELS:
        stem = model.kind_name.lower()
        files[f"{stem}.schema.json"] = (
            json.dumps(kind_schema(model), indent=2, sort_keys=True) + "\n"
        )
        files[f"{stem}.crd.yaml"] = yaml.safe_dump(kind_crd(model), sort_keys=False, width=100)
    files["homeport.schema.json"] = json.dumps(combined_schema(), indent=2, sort_keys=True) + "\n"
    return files
