"""Reading one App's world: its release (``git ls-remote`` on the control plane, or the
artifact's SHA-256 from the manifest, or none for a packaged service), its files
and unit on the VM over SSH, and its health over HTTP. Secrets are read from the
control plane's secrets directory here only to hash the env file they make up.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from homeport.clients.errors import SSHError
from homeport.clients.ssh import SSHPool
from homeport.kinds import App
from homeport.reconcilers.app.build import BUILT
from homeport.reconcilers.app.facts import (
    FactsIncomplete,
    FactsQuery,
    VmFacts,
    batch_argv,
    parse_batch,
)
from homeport.reconcilers.app.plan import AppObserved
from homeport.reconcilers.appfiles import AppPaths, pair_role, render_env_for, render_unit, sha256
from homeport.reconcilers.apphealth import check_health
from homeport.reconcilers.base import ClientAccess, ReconcileContext
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.freshlook import shared_look
from homeport.reconcilers.ownership import marker
from homeport.reconcilers.quarantine import awaiting_stop
from homeport.reconcilers.slots import APP_ARTIFACT_FAILURE, APP_BUILD_FAILURE

# A release is named by its git commit (40 hex) or its artifact's SHA-256 (64 hex).
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


@dataclass(frozen=True)
class AppSettings:
    secrets_dir: Path
    url_rewrites: dict[str, str] = field(default_factory=dict)


def rewrite(url: str, rewrites: dict[str, str]) -> str:
    """git's ``url.<new>.insteadOf <old>``: the longest matching prefix wins."""
    for old in sorted(rewrites, key=len, reverse=True):
        if url.startswith(old):
            return rewrites[old] + url[len(old) :]
    return url


def resolve_ref(repo: str, ref: str) -> str:
    """The commit a ref names, asked of the repository itself (``git ls-remote``)."""
    if _SHA.match(ref):
        return ref
    result = subprocess.run(
        [
            "git",
            "ls-remote",
            "--",
            repo,
            ref,
            f"refs/heads/{ref}",
            f"refs/tags/{ref}^{{}}",
            f"refs/tags/{ref}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise LookupError(
            result.stderr.strip().splitlines()[-1]
            if result.stderr.strip()
            else "git ls-remote failed"
        )
    lines = [line.split() for line in result.stdout.splitlines() if line.strip()]
    peeled = [sha for sha, name in lines if name.endswith("^{}")]
    if peeled:
        return peeled[0]
    if not lines:
        raise LookupError(f"no branch or tag named {ref!r}")
    return lines[0][0]


async def observe_app(
    desired: App | None,
    name: str,
    ctx: ReconcileContext,
    settings: AppSettings,
    *,
    fresh: bool = False,
) -> AppObserved:
    """One App's world; its VM's facts from the look shared by the Apps on that VM
    (``FACTS``), or with ``fresh`` asked for this App alone, now."""
    own = dict(ctx.status_details("App", name))
    vm_name = desired.spec.vm if desired else str(own.get("vm") or "")
    host = ctx.status_details("VM", vm_name).get("address") if vm_name else None
    if host is None and desired is None:
        host = own.get("address")
    paths = AppPaths.of(desired) if desired else AppPaths.for_name(name)
    seen = AppObserved(name=name, paths=paths, host=str(host) if host else None, previous=own)
    if not host:
        return seen
    address = str(host)
    if desired is not None:
        seen = await _release(seen, desired, ctx, settings)
        if seen.resolve_error is not None:
            return seen
        paired = pair_role(name, ctx)
        if paired is not None:
            pair, role, epoch = paired
            peer = pair.spec.standby if name == pair.spec.primary else pair.spec.primary
            peer_details = ctx.status_details("App", peer)
            peer_ready = ctx.is_ready("App", peer)
            seen = replace(
                seen,
                pair_role=role,
                pair_epoch=epoch,
                peer=peer,
                peer_release=str(peer_details.get("release"))
                if peer_ready and peer_details.get("release")
                else None,
                peer_failed=tuple(peer_details.get("failedReleases") or ()),
            )
        unit = render_unit(desired, address)
        env = render_env_for(desired, settings.secrets_dir, ctx)
        seen = replace(seen, desired_unit_sha=sha256(unit), desired_env_sha=sha256(env))
    try:
        seen = await _on_vm(seen, desired, vm_name, ctx, fresh=fresh)
    except SSHError as exc:
        raise TemporaryError(
            f"VM {vm_name} unreachable over SSH: {exc}", reason="Unreachable"
        ) from None
    if desired is not None and seen.active_state == "active":
        seen = await _health(seen, desired, ctx)
    return replace(seen, quarantined_by=awaiting_stop(name, ctx))


async def _release(
    seen: AppObserved, desired: App, ctx: ReconcileContext, settings: AppSettings
) -> AppObserved:
    """The release the manifest asks for: a git ref's commit (``git ls-remote``), an
    artifact's SHA-256, or none for a packaged service."""
    source = desired.spec.source
    if source.artifact is not None:
        failure = dict(APP_ARTIFACT_FAILURE.recall(ctx, seen.name) or {})
        return replace(seen, release=source.artifact.sha256, artifact_failure=failure)
    git = source.git_source
    if git is None:
        return seen
    repo = rewrite(git.repo, settings.url_rewrites)
    try:
        release = await ctx.shared(
            f"git:{repo}#{git.ref}", lambda: asyncio.to_thread(resolve_ref, repo, git.ref)
        )
    except (LookupError, OSError, subprocess.TimeoutExpired) as exc:
        return replace(seen, repo=repo, resolve_error=str(exc))
    return replace(seen, repo=repo, release=release)


FACTS = "app.facts"
"""Shared per VM (``app.facts:<vm>@<address>``): the facts of every App on it, one exec."""


@dataclass(frozen=True)
class VmLook:
    """One exec's answers for the Apps of one VM: what was asked of each, and its facts."""

    queries: dict[str, FactsQuery]
    facts: dict[str, VmFacts | FactsIncomplete]
    exit_status: int | None


APPS_BY_VM = "app.by-vm"
"""Shared: the declared Apps of each VM, what their looks ask."""


def facts_key(vm: str, host: str) -> str:
    return f"{FACTS}:{vm}@{host}"


def query_for(desired: App | None, paths: AppPaths) -> FactsQuery:
    return FactsQuery(
        paths=paths,
        user=desired.spec.user if desired is not None else None,
        packages=tuple(p.name for p in desired.spec.packages) if desired is not None else (),
    )


async def ask(ssh: SSHPool, host: str, queries: dict[str, FactsQuery]) -> VmLook:
    """Every fact of ``queries`` (App → what to ask) in one SSH exec on ``host``."""
    token = secrets.token_hex(8)
    result = await ssh.run(host, batch_argv(queries, token), check=False, idempotent=True)
    return VmLook(queries, parse_batch(queries, result.stdout, token), result.exit_status)


async def _vm_look(ctx: ReconcileContext, vm: str, host: str) -> VmLook:
    """The declared Apps of VM ``vm``, asked at once (shared by their reconciles)."""
    return await ask(ctx.clients.ssh, host, (await _by_vm(ctx)).get(vm, {}))


async def _by_vm(ctx: ReconcileContext) -> dict[str, dict[str, FactsQuery]]:
    """VM → what to ask of each App declared on it; built once per window (shared), not
    once per VM: it reads every App of the estate."""

    async def load() -> dict[str, dict[str, FactsQuery]]:
        found: dict[str, dict[str, FactsQuery]] = {}
        for app, _ in ctx.objects("App"):
            if isinstance(app, App):
                found.setdefault(app.spec.vm, {})[app.name] = query_for(app, AppPaths.of(app))
        return found

    index: dict[str, dict[str, FactsQuery]] = await ctx.shared(APPS_BY_VM, load)
    return index


async def _facts(
    name: str, query: FactsQuery, vm: str, host: str, ctx: ReconcileContext, *, fresh: bool
) -> tuple[VmFacts | FactsIncomplete, int | None, bool]:
    """This App's facts, their exec's exit status, and whether the exec ran just now."""
    if not fresh:
        shared, own = await shared_look(ctx, facts_key(vm, host), lambda: _vm_look(ctx, vm, host))
        assert isinstance(shared, VmLook)
        if shared.queries.get(name) == query:
            return shared.facts[name], shared.exit_status, own
    # Asked alone: a fresh look, a removed App, or one the shared look did not ask for
    # (declared or changed after it was taken).
    look = await ask(ctx.clients.ssh, host, {name: query})
    return look.facts[name], look.exit_status, True


async def _on_vm(
    seen: AppObserved, desired: App | None, vm: str, ctx: ReconcileContext, *, fresh: bool
) -> AppObserved:
    """Every fact the plan needs from the VM, in one SSH round trip (``facts.py``) shared
    with the other Apps on the VM."""
    host, paths = seen.host or "", seen.paths
    query = query_for(desired, paths)
    facts, status, now = await _facts(
        seen.name, query, vm, host, ctx, fresh=fresh or desired is None
    )
    if isinstance(facts, FactsIncomplete):
        raise TemporaryError(
            f"VM {host}: the observation command stopped early (exit {status}): {facts}",
            reason="ObserveFailed",
        )
    listing = facts.listing
    current = facts.current_link.rstrip("/").rsplit("/", 1)[-1] if facts.current_link else None
    # A packaged service (source none) has no releases directory, only its data.
    packaged = desired is not None and desired.spec.source.none is not None
    layout_ok = listing is not None
    if desired is not None:
        layout_ok = (layout_ok or packaged) and facts.data_exists
    unit = facts.unit
    return replace(
        seen,
        owned=facts.unit_text is None or marker("App", seen.name).encode() in facts.unit_text,
        user_exists=facts.user_exists,
        layout_ok=layout_ok,
        releases=tuple(line for line in listing or () if _SHA.match(line)),
        current=current if current and _SHA.match(current) else None,
        unit_sha=facts.hashes.get(paths.unit_path),
        env_sha=facts.hashes.get(paths.env_path),
        env_mode=facts.env_mode,
        active_state=unit.get("ActiveState", "inactive")
        if unit.get("LoadState") == "loaded"
        else "absent",
        enabled=unit.get("UnitFileState") == "enabled",
        packages=facts.packages,
        built=tuple(m.group(1) for m in map(BUILT.match, listing or ()) if m),
        build_failure=APP_BUILD_FAILURE.recall(ctx, seen.name) or {},
        looked_now=now,
    )


async def _health(seen: AppObserved, desired: App, ctx: ClientAccess) -> AppObserved:
    check = desired.spec.health_check
    prober = ctx.clients.prober
    address = seen.host if desired.spec.bind != "localhost" else None
    if address is None:
        return replace(seen, healthy=True)  # a localhost-only App is checked by systemd alone
    result = await check_health(prober, check, address, desired.spec.port)
    return replace(seen, healthy=result.ok, health_error=result.error)


__all__ = ["FACTS", "AppSettings", "facts_key", "observe_app", "resolve_ref", "rewrite"]
