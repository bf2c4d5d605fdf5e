"""The clients seam, read from the source: reconcilers reach clients only as typed
attributes (``ctx.clients.proxmox``), never by a string name, and each kind declares in
``Reconciler.uses`` exactly the clients its modules use (the engine serves it only those).
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from homeport.clients.bundle import CLIENT_NAMES
from homeport.reconcilers.base import Reconciler

ROOT = Path(__file__).parents[2]
RECONCILERS = ROOT / "homeport" / "reconcilers"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _by_string_name(tree: ast.Module) -> list[int]:
    """Lines that look a client up by name: ``x.client("caddy")`` or ``clients["caddy"]``."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "client"
            and any(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
        ):
            lines.append(node.lineno)
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute | ast.Name)
            and (node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id)
            == "clients"
        ):
            lines.append(node.lineno)
    return lines


def _used(tree: ast.Module) -> set[str]:
    """The names ``X`` of every ``<something>.clients.X`` in a module."""
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "clients"
    }


def _shared_imports(tree: ast.Module) -> set[str]:
    """The top-level ``homeport.reconcilers.<module>`` modules a module imports."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[:2] == ["homeport", "reconcilers"] and len(parts) == 3:
                found.add(parts[2])
    return found


def _package_uses(package: Path) -> set[str]:
    """Clients used by a kind's package and the shared reconciler modules it imports."""
    used: set[str] = set()
    shared: set[str] = set()
    for module in package.rglob("*.py"):
        tree = _tree(module)
        used |= _used(tree)
        shared |= _shared_imports(tree)
    seen: set[str] = set()
    while shared - seen:  # shared modules importing other shared modules
        name = (shared - seen).pop()
        seen.add(name)
        path = RECONCILERS / f"{name}.py"
        if path.exists():
            tree = _tree(path)
            used |= _used(tree)
            shared |= _shared_imports(tree)
    return used


def _reconcilers() -> dict[str, type[Reconciler[Any, Any]]]:
    """Each kind's package and its reconciler class (only class attributes are read)."""
    found = {}
    for package in sorted(p for p in RECONCILERS.iterdir() if (p / "__init__.py").exists()):
        module = importlib.import_module(f"homeport.reconcilers.{package.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Reconciler)
                and value is not Reconciler
                # defined in the package or one of its modules (its face re-exports it)
                and f"{value.__module__}.".startswith(f"{module.__name__}.")
            ):
                found[package.name] = value
    return found


def test_no_module_of_homeport_looks_a_client_up_by_a_string_name() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "homeport").rglob("*.py"))
        if "simulator" not in path.parts
        for line in _by_string_name(_tree(path))
    ]
    assert offenders == [], "use the typed attribute instead: ctx.clients.proxmox"


def test_the_check_sees_a_lookup_by_name() -> None:
    """The checks above and below must be able to fail."""
    tree = ast.parse('px = ctx.client("proxmox")\nssh = self.clients["ssh"]\nc = ctx.clients.caddy')
    assert _by_string_name(tree) == [1, 2]
    assert _used(tree) == {"caddy"}


KINDS = sorted(_reconcilers().items())


@pytest.mark.parametrize(("package", "reconciler"), KINDS, ids=[k for k, _ in KINDS])
def test_each_kind_declares_exactly_the_clients_it_uses(
    package: str, reconciler: type[Reconciler[Any, Any]]
) -> None:
    used = _package_uses(RECONCILERS / package)
    assert used <= set(CLIENT_NAMES), used - set(CLIENT_NAMES)
    assert set(reconciler.uses) == used, (
        f"{reconciler.__name__}.uses is {sorted(reconciler.uses)}; its modules use {sorted(used)}"
    )


def test_every_kind_is_checked() -> None:
    kinds = {r.kind for _, r in KINDS}
    assert kinds == {
        "Machine",
        "VM",
        "App",
        "ProxyRoute",
        "BackupPolicy",
        "StandbyPair",
        "Agent",
        "Estate",
    }


def test_plan_modules_load_no_client_through_the_context_protocol() -> None:
    """``reconcilers/base.py`` names the client set for mypy only (TYPE_CHECKING), which
    is why the purity contract may ignore that import."""
    code = (
        "import sys, homeport.reconcilers.base; "
        "print(sorted(m for m in sys.modules if m.startswith('homeport.clients')))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert ran.stdout.strip() == "[]"
