"""Shell completion of kinds and object names (``homeport --install-completion``).

Names come from the store, opened read-only with the command's own ``--config``. A
completion must never fail loudly (the shell would print the traceback mid-line): any
problem reading the config or the store completes nothing.
"""

from __future__ import annotations

from pathlib import Path

import typer

from homeport.controller.config import config_path, load_read_settings
from homeport.controller.store import Store
from homeport.kinds.names import NAMES, lookup_kind_name


def kind_words() -> list[str]:
    """What ``get`` accepts: each kind's lowercase name, plural and short names, ``all``."""
    words = {"all"}
    for names in NAMES:
        words |= names.words()
    return sorted(words)


def complete_kind(incomplete: str) -> list[str]:
    return [w for w in kind_words() if w.startswith(incomplete.lower())]


def _names(ctx: typer.Context, kind: str | None) -> list[tuple[str, str]]:
    config = ctx.params.get("config")
    try:
        settings = load_read_settings(config_path(Path(config) if config else None))
        store = Store.open(settings.store.path, readonly=True)
    except Exception:  # see the module docstring: complete nothing
        return []
    try:
        if kind is None or kind.lower() == "all":
            objects = store.objects.all()
        else:
            found = lookup_kind_name(kind)
            objects = store.objects.of_kind(found) if found else []
        return [(o.kind, o.name) for o in objects]
    finally:
        store.close()


def complete_name(ctx: typer.Context, incomplete: str) -> list[str]:
    """Names of objects of the kind given before (``homeport get vm <TAB>``)."""
    kind = ctx.params.get("kind")
    return sorted({n for _, n in _names(ctx, kind) if n.startswith(incomplete)})


def complete_kind_slash_name(ctx: typer.Context, incomplete: str) -> list[str]:
    """``KIND/NAME`` for ``events --for``: kinds first, then the names of the kind typed."""
    kind, slash, partial = incomplete.partition("/")
    if not slash:
        return [f"{w}/" for w in complete_kind(kind) if w != "all"]
    return sorted(f"{kind}/{n}" for _, n in _names(ctx, kind) if n.startswith(partial))


def complete_app(ctx: typer.Context, incomplete: str) -> list[str]:
    return sorted({n for _, n in _names(ctx, "App") if n.startswith(incomplete)})
