"""A kind's package keeps its ``__init__.py`` as a face: what the package exports, no
behaviour. The reconciler lives in ``reconciler.py``, the pure plan in ``plan.py``; the
rest of homeport imports only the face (an import-linter contract), so the face is the
kind's whole surface and a newcomer reads the code where its name says it is."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RECONCILERS = Path(__file__).parents[2] / "homeport" / "reconcilers"
PACKAGES = sorted(p.name for p in RECONCILERS.iterdir() if (p / "__init__.py").exists())


def behaviour_in(source: str) -> list[str]:
    """What a face holds besides its docstring, imports and ``__all__``."""
    found = []
    for index, node in enumerate(ast.parse(source).body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
            "__all__"
        ]:
            continue
        found.append(f"line {node.lineno}: {type(node).__name__}")
    return found


def test_every_kind_has_a_package() -> None:
    assert {"agent", "app", "backuppolicy", "estate", "machine", "proxyroute"} <= set(PACKAGES)
    assert {"standbypair", "vm"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_a_kinds_init_is_only_its_face(package: str) -> None:
    init = RECONCILERS / package / "__init__.py"
    assert behaviour_in(init.read_text(encoding="utf-8")) == [], (
        f"move it to {package}/reconciler.py (or plan.py if it is pure) and re-export it"
    )
    assert (RECONCILERS / package / "reconciler.py").exists()
    assert (RECONCILERS / package / "plan.py").exists()


def test_the_check_sees_behaviour() -> None:
    face = '"""doc"""\nfrom x import y\n__all__ = ["y"]\n'
    assert behaviour_in(face) == []
    assert behaviour_in(face + "class R:\n    pass\nLIMIT = 3\n") == [
        "line 4: ClassDef",
        "line 6: Assign",
    ]
