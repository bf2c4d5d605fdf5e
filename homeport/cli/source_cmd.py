"""``homeport init``, ``homeport approve`` and the git hooks (``homeport hook``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import typer

from homeport.cli.common import CONFIG_OPTION, operator_name, settings_or_exit
from homeport.cli.output import console
from homeport.controller.approvals import VM_PREFIX, NotHeld
from homeport.controller.approvals import approve as approve_held
from homeport.controller.control import send_request
from homeport.controller.store import Store
from homeport.services.ha.planes import operator_writes
from homeport.source.git import GitError
from homeport.source.hooks import init_repository
from homeport.source.signatures import SignatureConfigError, SignaturePolicy, as_policy


def init(
    repo: Path = typer.Option(..., "--repo", help="Path of the bare repository to create."),
    branch: str = typer.Option("main", help="Branch whose commits the daemon adopts."),
    path: str = typer.Option(".", help="Folder inside the repository holding the manifests."),
    require_signatures: bool = typer.Option(
        False,
        "--require-signatures",
        help="Refuse pushes not signed by a trusted key (docs/security.md#signed-revisions).",
    ),
    signature_policy: str = typer.Option(
        "tip", help="With --require-signatures: `tip` (the pushed head) or `every-commit`."
    ),
    allowed_signers: Path | None = typer.Option(
        None, help="git's SSH allowed signers file (`principal key` per line)."
    ),
    gpg_home: Path | None = typer.Option(
        None, help="A GnuPG home whose keyring holds the trusted OpenPGP keys."
    ),
) -> None:
    """Create the control plane's bare git repository with homeport's hooks.

    The pre-receive hook rejects pushes whose manifests do not validate (and, with
    --require-signatures, commits not signed by a trusted key); the post-receive hook
    wakes the daemon. Running it again repairs the hooks.

    Example: [bold]homeport init --repo /srv/homeport/estate.git --require-signatures
    --allowed-signers /etc/homeport/allowed_signers[/bold], then [bold]git remote add
    homeport ssh://control-plane/srv/homeport/estate.git[/bold]
    """
    signatures = (
        _signature_policy(signature_policy, allowed_signers, gpg_home)
        if require_signatures
        else None
    )
    try:
        init_repository(repo, branch=branch, subdir=path, signatures=signatures)
    except (OSError, GitError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        console(stderr=True).print(f"error: cannot initialise {repo}: {reason}", markup=False)
        raise typer.Exit(1) from None
    out = console()
    out.print(f"initialised {repo} (branch {branch}, manifests in {path})", markup=False)
    if signatures is not None:
        keys = " and ".join(
            f"{name} = {str(value.resolve())!r}"
            for name, value in (("allowed_signers", allowed_signers), ("gpg_home", gpg_home))
            if value is not None
        )
        out.print(
            f"pushes must be signed ({signatures.policy}), and the daemon checks again at "
            "adoption; so that editing this repository's config cannot turn it off, also set "
            f'in homeport.toml: [signatures] policy = "{signatures.policy}", {keys}',
            markup=False,
        )


def _signature_policy(
    policy: str, allowed_signers: Path | None, gpg_home: Path | None
) -> SignaturePolicy:
    if policy not in ("tip", "every-commit"):
        raise typer.BadParameter("`tip` or `every-commit`", param_hint="--signature-policy")
    if allowed_signers is None and gpg_home is None:
        raise typer.BadParameter(
            "give the trusted keys: --allowed-signers FILE and/or --gpg-home DIR",
            param_hint="--require-signatures",
        )
    signatures = SignaturePolicy(
        as_policy(policy), allowed_signers=allowed_signers, gpg_home=gpg_home
    )
    try:
        signatures.check()
    except SignatureConfigError as exc:
        console(stderr=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from None
    return signatures


def approve(
    what: str = typer.Argument(
        None, help="What is held: a revision's full sha, or VM/<name> for a held destruction."
    ),
    delete_branch: bool = typer.Option(
        False, "--delete-branch", help="Approve pruning after the branch was deleted."
    ),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Approve one held thing: a revision (force-push, mass prune, empty revision, deleted branch) or the destruction of a VM that left git.

    Only what is held now can be approved, named exactly (`homeport status` lists it); anything else is refused with exit 1. The approval is used once: by the revision's adoption or the VM's destruction.

    Example: [bold]homeport approve VM/shop-a[/bold]
    """
    if bool(what) == delete_branch:
        raise typer.BadParameter("give what is held (a full sha or VM/<name>) or --delete-branch")
    settings = settings_or_exit(config)
    if not settings.store.path.exists():
        _fail(f"{settings.store.path}: no store yet (has the daemon run?)", 2)
    name = "--delete-branch" if delete_branch else what
    store = Store.open(settings.store.path)
    try:
        with operator_writes(store, settings):
            item = approve_held(store, name, by=operator_name(), now=datetime.now(UTC).isoformat())
    except NotHeld as exc:
        _fail(str(exc), 1)
    finally:
        store.close()
    if name.startswith(VM_PREFIX):
        woke = send_request(
            settings.store.path,
            {"op": "reconcile", "kind": "VM", "name": name.removeprefix(VM_PREFIX)},
        )
    else:
        woke = send_request(settings.store.path, {"op": "sync"})
    note = "" if woke else " (the daemon is not running; it acts on it when it starts)"
    console().print(f"approved {item.id} ({item.reason}){note}", markup=False)


def _fail(message: str, code: int) -> NoReturn:
    console(stderr=True).print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)
