"""Manifest files → typed objects, each remembering its file and line.

Given the files ``selection`` chose (``git.py``, ``directory.py``), parses them with
``yaml_documents`` and validates each document against its kind's model
(``homeport.kinds``), turning pydantic errors into ``ManifestError``s with the line of the
offending key and a "did you mean". Cross-object checks live in ``validate.py``.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from homeport.kinds import API_VERSION, KINDS, Resource
from homeport.source.errors import ManifestError
from homeport.source.yaml_documents import YamlDocument


@dataclass(frozen=True)
class LoadedObject:
    """A validated object with where it came from."""

    resource: Resource
    document: YamlDocument

    @property
    def kind(self) -> str:
        return self.resource.kind_name

    @property
    def name(self) -> str:
        return self.resource.metadata.name

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    @property
    def file(self) -> str:
        return self.document.file

    @property
    def line(self) -> int:
        return self.document.line

    def line_of(self, *path: str | int) -> int:
        return self.document.line_of(path)

    def error(self, path: Sequence[str | int], message: str, fix: str | None) -> ManifestError:
        return ManifestError(
            self.file, self.document.line_of(path), self.kind, self.name, message, fix
        )


def load_document(document: YamlDocument) -> tuple[LoadedObject | None, list[ManifestError]]:
    """Validate one document against the model of its kind."""
    data = document.data

    def fail(
        message: str,
        fix: str | None,
        path: Sequence[str | int] = (),
        kind: str = "",
        name: str = "",
    ) -> tuple[None, list[ManifestError]]:
        error = ManifestError(document.file, document.line_of(path), kind, name, message, fix)
        return None, [error]

    if data is None:
        return None, []  # an empty document, e.g. after a trailing '---'
    if not isinstance(data, dict):
        shape = type(data).__name__
        return fail(
            f"a manifest must be a mapping with apiVersion, kind, metadata and spec, not {shape}",
            "start the document with 'apiVersion: homeport.dev/v1alpha1'",
        )
    kind = data.get("kind")
    name = _name_of(data)
    if not isinstance(kind, str) or not kind:
        return fail("missing 'kind'", f"add one of: {', '.join(KINDS)}", name=name)
    model = KINDS.get(kind)
    if model is None:
        guess = difflib.get_close_matches(kind, list(KINDS), n=1, cutoff=0.5)
        if not guess:
            guess = [k for k in KINDS if k.lower() == kind.lower()]
        fix = f"did you mean '{guess[0]}'?" if guess else f"use one of: {', '.join(KINDS)}"
        return fail(f"unknown kind {kind!r}", fix, ["kind"], kind, name)
    if data.get("apiVersion") != API_VERSION:
        got = data.get("apiVersion")
        message = "missing 'apiVersion'" if got is None else f"unsupported apiVersion {got!r}"
        return fail(message, f"use 'apiVersion: {API_VERSION}'", ["apiVersion"], kind, name)
    try:
        resource = model.model_validate(data)
    except ValidationError as exc:
        return None, [
            _from_pydantic(document, model, kind, name, detail) for detail in exc.errors()
        ]
    return LoadedObject(resource=resource, document=document), []


def _name_of(data: dict[Any, Any]) -> str:
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        return str(metadata["name"])
    return ""


def _from_pydantic(
    document: YamlDocument, model: type[Resource], kind: str, name: str, detail: ErrorDetails
) -> ManifestError:
    loc = [step for step in detail["loc"] if not _is_internal_step(step)]
    where = _dotted(loc)
    line = document.line_of(loc)
    kind_of_error = detail["type"]
    message = detail["msg"].removeprefix("Value error, ")
    fix: str | None = None
    if kind_of_error == "extra_forbidden":
        allowed = _allowed_fields(model, loc[:-1])
        field = str(loc[-1]) if loc else "?"
        message = f"unknown field '{where}'"
        guess = difflib.get_close_matches(field, allowed, n=1, cutoff=0.6)
        if not guess:
            guess = [a for a in allowed if a.lower() == field.lower()]
        if guess:
            fix = f"did you mean '{guess[0]}'?"
        elif allowed:
            fix = f"remove it; valid fields here: {', '.join(sorted(allowed))}"
        else:
            fix = "remove it"
    elif kind_of_error == "missing":
        message = f"missing required field '{where}'"
        fix = "add it"
    else:
        got = detail.get("input")
        shown = repr(got) if isinstance(got, str | int | float | bool) else type(got).__name__
        message = f"{where}: {message}" if where else message
        if kind_of_error not in ("value_error", "assertion_error") and got is not None:
            message = f"{message} (got {shown})"
        fix = _fix_for(kind_of_error)
        if isinstance(got, bool) and kind_of_error in ("literal_error", "string_type"):
            fix = "quote the value: YAML reads yes/no/on/off/true/false unquoted as booleans"
    return ManifestError(document.file, line, kind, name, message, fix)


def _is_internal_step(step: str | int) -> bool:
    # pydantic adds tags for function validators and unions; they are not YAML keys.
    return isinstance(step, str) and (
        step.startswith(("function-", "literal[", "union[")) or step in ("str", "int", "float")
    )


def _dotted(loc: Sequence[str | int]) -> str:
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


_FIXES = {
    "literal_error": "use one of the values listed",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write a string (quote it if YAML reads it as something else)",
    "dict_type": "write a mapping (key: value lines)",
    "list_type": "write a list ('- item' lines)",
    "greater_than": "use a larger value",
    "greater_than_equal": "use a larger value",
    "less_than": "use a smaller value",
    "less_than_equal": "use a smaller value",
    "too_long": "remove items",
    "model_type": "write a mapping (key: value lines)",
}


def _fix_for(error_type: str) -> str | None:
    return _FIXES.get(error_type)


def _allowed_fields(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """YAML field names valid at ``loc`` inside ``model`` (following nested models)."""
    current: Any = model
    for step in loc:
        current = _unwrap(current)
        if isinstance(step, int) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            continue
        field = next(
            (f for n, f in current.model_fields.items() if (f.alias or n) == step or n == step),
            None,
        )
        if field is None:
            return []
        current = field.annotation
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/list/dict/Annotated wrappers down to a model class when there is one."""
    for _ in range(5):
        origin = typing.get_origin(annotation)
        if origin is None:
            return annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (typing.Union, types.UnionType) or origin is typing.Annotated:
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else args[0]
        elif origin in (list, tuple, set, frozenset):
            annotation = args[0]
        elif origin is dict:
            annotation = args[-1]
        else:
            return annotation
    return annotation
