"""``homeport init``, ``homeport approve`` and the git hooks (``homeport hook``)."""

from __future__ import annotations

from pathlib import Path

import typer

from homeport.cli.common import CONFIG_OPTION, settings_or_exit
from homeport.cli.output import console
from homeport.controller.adoption import DELETE_BRANCH
from homeport.controller.clock import SystemClock
from homeport.controller.control import send_request
from homeport.controller.daemon import make_source
from homeport.controller.ha.planes import operator_writes
from homeport.controller.revisions import RevisionSync
from homeport.controller.store import Store
from homeport.source.git import GitError
from homeport.source.hooks import init_repository


def init(
    repo: Path = typer.Option(..., "--repo", help="Path of the bare repository to create."),
    branch: str = typer.Option("main", help="Branch whose commits the daemon adopts."),
    path: str = typer.Option(".", help="Folder inside the repository holding the manifests."),
) -> None:
    """Create the control plane's bare git repository with homeport's hooks.

    The pre-receive hook rejects pushes whose manifests do not validate; the post-receive
    hook wakes the daemon. Running it again repairs the hooks.

    Example: [bold]homeport init --repo /srv/homeport/estate.git[/bold], then
    [bold]git remote add homeport ssh://control-plane/srv/homeport/estate.git[/bold]
    """
    try:
        init_repository(repo, branch=branch, subdir=path)
    except (OSError, GitError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        console(stderr=True).print(f"error: cannot initialise {repo}: {reason}", markup=False)
        raise typer.Exit(1) from None
    console().print(f"initialised {repo} (branch {branch}, manifests in {path})", markup=False)


def approve(
    revision: str = typer.Argument(None, help="The held commit (a sha or a prefix of at least 7)."),
    delete_branch: bool = typer.Option(
        False, "--delete-branch", help="Approve pruning after the branch was deleted."
    ),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Approve a held revision (force-push, mass prune, empty revision, deleted branch).

    Example: [bold]homeport approve 3f9c2a1b7e[/bold]
    """
    if not revision and not delete_branch:
        raise typer.BadParameter("give a revision or --delete-branch")
    settings = settings_or_exit(config)
    store = Store.open(settings.store.path)
    try:
        sync = RevisionSync(
            source=make_source(settings),
            store=store,
            clock=SystemClock(),
            max_prune_fraction=settings.source.max_prune_fraction,
        )
        what = DELETE_BRANCH if delete_branch else revision
        if not delete_branch and len(revision) < 7:
            raise typer.BadParameter("give at least 7 characters of the sha")
        with operator_writes(store, settings):
            sync.approve(what)
    finally:
        store.close()
    woke = send_request(settings.store.path, {"op": "sync"})
    note = "" if woke else " (the daemon is not running; it will see it when it starts)"
    console().print(f"approved {what}{note}", markup=False)
