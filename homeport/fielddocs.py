"""Field descriptions from the fields' docstrings, filled in only where they are shown.

A field's docstring (the string literal right after its annotation) is its description in
the JSON Schemas, the CRDs and the manifest reference. Validation never reads it, so the
manifest models do not ask pydantic for it at import (``use_attribute_docstrings``
parses the source of every model class, about a fifth of ``homeport status``'s start-up
and of the pre-receive hook's); the schema and the reference call :func:`describe` first.

``describe`` gives each field the docstring of the class that declares it — the same
text ``use_attribute_docstrings`` would give — and leaves a description written with
``Field(description=...)`` alone. It may run at any time: the models build their
validators lazily (``defer_build``), and one that was built already (a validation ran
first in this process) is rebuilt, nested models before their parents, so that the
schema carries the descriptions whatever ran before.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import typing
from collections.abc import Iterable
from functools import cache
from itertools import pairwise
from typing import Any

from pydantic import BaseModel


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation names: ``list[Port] | None`` → ``[Port]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def describe(*roots: type[BaseModel]) -> None:
    """Give every field of ``roots`` and of the models they nest its docstring."""
    order = _nested_first(roots)
    for model in order:
        for name, info in model.model_fields.items():
            if info.description is None:
                info.description = _declared_docstrings(model).get(name)
    for model in order:  # children first: a parent's schema embeds its children's
        if model.__pydantic_complete__:
            model.model_rebuild(force=True)


def _nested_first(roots: Iterable[type[BaseModel]]) -> list[type[BaseModel]]:
    order: list[type[BaseModel]] = []
    seen: set[type[BaseModel]] = set()

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for info in model.model_fields.values():
            for nested in models_in(info.annotation):
                visit(nested)
        order.append(model)

    for root in roots:
        visit(root)
    return order


def _declared_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """Each field's docstring, from the class of ``model``'s MRO that declares it."""
    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if issubclass(klass, BaseModel) and klass is not BaseModel:
            declared = inspect.get_annotations(klass)
            own = _docstrings(klass)
            for name in declared:
                docs.pop(name, None)  # redeclared without a docstring: none, as pydantic
                if name in own:
                    docs[name] = own[name]
    return docs


@cache
def _docstrings(klass: type) -> dict[str, str]:
    """``name: docstring`` for the attribute docstrings in ``klass``'s own body."""
    try:
        source = textwrap.dedent(inspect.getsource(klass))
    except (OSError, TypeError):  # no source (a class built at run time): no docstrings
        return {}
    tree = ast.parse(source)
    body = next(node for node in tree.body if isinstance(node, ast.ClassDef)).body
    docs: dict[str, str] = {}
    for node, after in pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs
