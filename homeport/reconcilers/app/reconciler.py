"""The App reconciler: observe and plan wired for the engine, and ``act``, which performs
one action on the VM over SSH (releases, unit, env file, restart, rollback, removal)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from homeport.clients.ssh import SSHPool
from homeport.clients.systemd import Systemd
from homeport.kinds import App
from homeport.reconcilers.app.actions import (
    EnsureLayout,
    FetchRelease,
    InstallEnvFile,
    InstallUnit,
    PruneReleases,
    RemoveApp,
    RestartUnit,
    RollBack,
    SwitchRelease,
)
from homeport.reconcilers.app.artifact import FetchArtifact
from homeport.reconcilers.app.build import (
    KILL_AFTER_SECONDS,
    BuildRelease,
    build_argv,
    command_sha,
    marker,
    output_tail,
)
from homeport.reconcilers.app.download import download_artifact
from homeport.reconcilers.app.observe import AppSettings, facts_key, observe_app
from homeport.reconcilers.app.plan import AppObserved, plan_app
from homeport.reconcilers.appfiles import render_env_for, render_unit
from homeport.reconcilers.base import (
    Action,
    Plan,
    ReconcileContext,
    Reconciler,
    own_desired,
)
from homeport.reconcilers.errors import PermanentError, TemporaryError
from homeport.reconcilers.packages import InstallPackages
from homeport.reconcilers.packages_apply import install_packages
from homeport.reconcilers.service_apply import (
    add_system_user,
    on_vm,
    remove_unit,
    restart_unit,
    write_env_file,
    write_unit,
)
from homeport.reconcilers.slots import APP_BUILD_FAILURE

FETCH_TIMEOUT = 600.0

__all__ = ["AppObserved", "AppReconciler", "AppSettings", "plan_app"]


class AppReconciler(Reconciler[App, AppObserved]):
    kind: ClassVar[str] = "App"
    uses = frozenset({"ssh", "systemd", "prober"})
    gated_by: ClassVar[frozenset[str] | None] = frozenset({"VM"})

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings

    async def observe(self, desired: App | None, name: str, ctx: ReconcileContext) -> AppObserved:
        seen = await observe_app(desired, name, ctx, self.settings)
        if seen.looked_now or not any(
            a.mutating for a in plan_app(desired, seen, now=ctx.now()).actions
        ):
            return seen
        # The plan would act, and the VM's facts came from a look shared with the other
        # Apps on the VM, up to a window old: act only on a fresh look at this App
        # (docs/architecture.md, "Shared observations").
        return await observe_app(desired, name, ctx, self.settings, fresh=True)

    def plan(self, desired: App | None, observed: AppObserved, *, now: datetime) -> Plan:
        return plan_app(desired, observed, now=now)

    async def act(self, action: Action, ctx: ReconcileContext) -> None:
        try:
            await on_vm(ctx, lambda ssh, systemd: self._act(action, ctx, ssh, systemd))
        finally:
            # The next look of any App on this VM sees what was changed there.
            host = getattr(action, "host", None)
            vm = ctx.desired("App", ctx.key[1])
            if host and isinstance(vm, App):
                ctx.invalidate(facts_key(vm.spec.vm, str(host)))

    async def _act(
        self, action: Action, ctx: ReconcileContext, ssh: SSHPool, systemd: Systemd
    ) -> None:
        if isinstance(action, EnsureLayout):
            if action.create_user:
                await add_system_user(
                    ssh,
                    action.host,
                    action.user,
                    *("--home-dir", action.root, "--shell", "/usr/sbin/nologin"),
                )
            layout = f"{action.root}/releases" if action.releases else action.root
            await ssh.run(action.host, ["install", "-d", "-m", "0755", "--", layout])
            await ssh.run(
                action.host,
                [
                    *("install", "-d", "-m", "0750", "-o", action.user, "-g", action.user),
                    *("--", action.data),
                ],
            )
        elif isinstance(action, InstallPackages):
            await install_packages(ssh, action)
        elif isinstance(action, BuildRelease):
            await self._build(ssh, action, ctx)
        elif isinstance(action, FetchRelease):
            await self._fetch(ssh, action)
        elif isinstance(action, FetchArtifact):
            await download_artifact(ssh, action, ctx)
        elif isinstance(action, InstallUnit):
            await write_unit(ssh, systemd, action, render_unit(own_desired(ctx, App), action.host))
        elif isinstance(action, InstallEnvFile):
            content = render_env_for(own_desired(ctx, App), self.settings.secrets_dir, ctx)
            await write_env_file(ssh, action, content)
        elif isinstance(action, SwitchRelease):
            await ssh.switch_symlink(action.host, action.link, action.target)
        elif isinstance(action, RestartUnit):
            await restart_unit(systemd, action)
        elif isinstance(action, RollBack):
            await ssh.switch_symlink(action.host, action.link, action.to_path)
            await systemd.restart(action.host, action.unit)
            ctx.event("RolledBack", action.describe(), warning=True)
        elif isinstance(action, PruneReleases):
            markers = [marker(path) for path in action.paths]
            await ssh.run(action.host, ["rm", "-rf", *action.paths, *markers])
        elif isinstance(action, RemoveApp):
            files = (action.unit_path, action.env_path)
            await remove_unit(ssh, systemd, action.host, action.unit, files)
            await ssh.run(
                action.host, ["rm", "-rf", f"{action.root}/releases", f"{action.root}/current"]
            )
        else:
            raise TypeError(f"the App reconciler cannot perform {action!r}")

    async def _build(self, ssh: SSHPool, action: BuildRelease, ctx: ReconcileContext) -> None:
        """Build in the checkout as the App's user, then hand the tree back to root (the
        service reads its release, it does not rewrite it)."""
        build = own_desired(ctx, App).spec.build
        if build is None or command_sha(build) != action.command_sha:
            raise TemporaryError("the manifest changed while planning; planning again", delay=0)
        owner = f"{action.user}:{action.user}"
        await ssh.run(action.host, ["chown", "-R", owner, "--", action.path])
        result = await ssh.run(
            action.host,
            build_argv(build, action.user, action.path),
            check=False,
            timeout=build.timeout_seconds + KILL_AFTER_SECONDS + 30,
        )
        await ssh.run(action.host, ["chown", "-R", "root:root", "--", action.path])
        if not result.ok:
            status = result.exit_status
            timed_out = f" (killed after {build.timeout_seconds}s)" if status in (124, 137) else ""
            tail = output_tail(result.text, result.stderr.decode("utf-8", errors="replace"))
            APP_BUILD_FAILURE.remember(
                ctx, {"release": action.sha, "commandSha": action.command_sha, "exitStatus": status}
            )
            ctx.event(
                "BuildFailed",
                f"build of release {action.sha[:12]} exited {status}{timed_out}; "
                f"last lines of its output:\n{tail}",
                warning=True,
            )
            raise PermanentError(
                f"the build of release {action.sha[:12]} exited {status}{timed_out}; "
                "the previous release keeps running",
                reason="BuildFailed",
                fix="push a fix to the app's repository or change spec.build, then "
                f"`homeport reconcile App {ctx.key[1]}`",
            )
        await ssh.install_file(
            action.host,
            marker(action.path),
            action.command_sha.encode(),
            mode=0o644,
            owner="root",
            group="root",
        )
        APP_BUILD_FAILURE.clear(ctx)

    async def _fetch(self, ssh: SSHPool, action: FetchRelease) -> None:
        """Clone into a temporary directory, check out the commit, then rename into place."""
        staging = f"{action.target}.partial"
        await ssh.run(action.host, ["rm", "-rf", staging])
        await ssh.run(
            action.host,
            ["git", "clone", "--quiet", "--no-checkout", "--", action.repo, staging],
            timeout=FETCH_TIMEOUT,
        )
        await ssh.run(
            action.host, ["git", "-C", staging, "checkout", "--quiet", "--detach", action.sha]
        )
        await ssh.run(action.host, ["mv", "-f", staging, action.target])
