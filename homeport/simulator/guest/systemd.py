"""Simulated systemd (PID 1) of one guest: unit loading, jobs, restart policy, journal.

Unit files live on the guest disk (``rootfs.py``) in ``/etc/systemd/system``; enablement is
``<target>.wants/`` symlinks like the real thing. A started unit runs a ``simapp.SimApp``
published through the guest's ``nic.py``; ``commands/systemctl.py`` and
``commands/journalctl.py`` render this state in systemd 255's formats.

Semantics kept from systemd (``man 1 systemctl``, ``man 5 systemd.service``):
a loaded unit keeps its loaded configuration until ``daemon-reload`` (``NeedDaemonReload``);
``EnvironmentFile=`` is read at every start; ``Type=simple|exec`` starts return once the
process is spawned, ``Type=notify`` waits for readiness (the app's port is open);
``Restart=on-failure|always`` restarts after ``RestartSec`` and counts ``NRestarts``;
``StartLimitBurst`` within ``StartLimitIntervalSec`` ends in ``start-limit-hit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import posixpath
import shlex
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from . import lease
from .dpkg import packaged_program
from .envfile import parse_environment_file
from .faults import AppFault
from .journal import Journal
from .lease import ThawHooks
from .nic import GuestNic
from .rootfs import GuestDisk
from .seam import Clock, Sleep
from .simapp import AppIdentity, SimApp, Simulate, read_release
from .units import ServiceUnit, UnitFileError, content_digest, parse_unit

UNIT_DIR = "/etc/systemd/system"
EXIT_STATUS_NAMES = {1: "FAILURE", 2: "INVALIDARGUMENT", 200: "CHDIR", 203: "EXEC", 217: "USER"}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def unit_name(name: str) -> str:
    """``web`` → ``web.service`` (systemctl's name mangling for bare names)."""
    return name if "." in name else f"{name}.service"


@dataclass(frozen=True)
class JobOutcome:
    rc: int = 0
    stderr: str = ""


@dataclass
class SystemdHost:
    """What systemd needs from its guest."""

    disk: GuestDisk
    journal: Journal
    nic: GuestNic
    clock: Clock
    sleep: Sleep
    address: str
    hostname: Callable[[], str]
    app_fault: Callable[[str], AppFault | None]
    next_pid: Callable[[], int]
    frozen: Callable[[], bool] = lambda: False
    """The VM is hung: nothing inside runs (the lease guard skips its checks)."""
    thaw_hooks: ThawHooks = field(default_factory=set)
    """Checks that fell due during a freeze, run when the VM resumes (``lease.py``)."""


@dataclass
class Launch:
    """Everything decided at ``ExecStart`` time."""

    env: dict[str, str]
    work_dir: str | None
    simulate: Simulate
    spawn_status: int = 0


@dataclass(eq=False)
class UnitState:
    name: str
    config: ServiceUnit | None = None
    load_state: str = "not-found"
    load_error: str = ""
    active: str = "inactive"
    sub: str = "dead"
    result: str = "success"
    main_pid: int = 0
    exec_main_pid: int = 0
    exec_main_code: int = 0
    exec_main_status: int = 0
    n_restarts: int = 0
    exec_main_start: float | None = None
    exec_main_exit: float | None = None
    active_enter: float | None = None
    inactive_enter: float | None = None
    app: SimApp | None = None
    listen: tuple[str, int] | None = None
    process: asyncio.Task[None] | None = None
    restart_timer: asyncio.Task[None] | None = None
    ready: asyncio.Future[bool] | None = None
    start_history: deque[float] = field(default_factory=deque)

    def set_state(self, active: str, sub: str) -> None:
        self.active, self.sub = active, sub


class Systemd:
    def __init__(self, host: SystemdHost) -> None:
        self.host = host
        self.units: dict[str, UnitState] = {}

    # ---- unit files -------------------------------------------------------------------

    def fragment(self, name: str) -> str:
        return posixpath.join(UNIT_DIR, name)

    def read_fragment(self, name: str) -> bytes | None:
        host = self.host.disk.host(self.fragment(name))
        try:
            return host.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def _load_from_disk(self, unit: UnitState) -> None:
        content = self.read_fragment(unit.name)
        if content is None:
            unit.config, unit.load_state = None, "not-found"
            return
        try:
            unit.config = parse_unit(unit.name, self.fragment(unit.name), content)
            unit.load_state, unit.load_error = "loaded", ""
        except UnitFileError as exc:
            unit.config, unit.load_state, unit.load_error = None, "bad-setting", str(exc)
            self.host.journal.log(unit.name, f"{unit.name}: {exc}")

    def load(self, name: str) -> UnitState:
        """Look a unit up, loading it from disk if it is not loaded yet."""
        unit = self.units.setdefault(name, UnitState(name))
        if unit.config is None:
            self._load_from_disk(unit)
        return unit

    def known(self, name: str) -> UnitState | None:
        unit = self.units.get(name)
        if unit is None and self.read_fragment(name) is not None:
            unit = self.load(name)
        return unit

    def need_daemon_reload(self, unit: UnitState) -> bool:
        if unit.config is None:
            return False
        content = self.read_fragment(unit.name)
        return content is None or content_digest(content) != unit.config.digest

    def daemon_reload(self) -> None:
        for unit in self.units.values():
            self._load_from_disk(unit)

    def unit_file_names(self) -> list[str]:
        directory = self.host.disk.host(UNIT_DIR)
        if not directory.is_dir():
            return []
        return sorted(p.name for p in directory.iterdir() if p.name.endswith(".service"))

    def wants_links(self, name: str) -> list[str]:
        """Guest paths of ``*.wants/<name>`` symlinks (what makes a unit enabled)."""
        directory = self.host.disk.host(UNIT_DIR)
        if not directory.is_dir():
            return []
        links = []
        for wants in sorted(directory.glob("*.wants")):
            if (wants / name).is_symlink():
                links.append(posixpath.join(UNIT_DIR, wants.name, name))
        return links

    def unit_file_state(self, name: str) -> str:
        content = self.read_fragment(name)
        if content is None:
            return ""
        if self.wants_links(name):
            return "enabled"
        try:
            has_install = parse_unit(name, self.fragment(name), content).has_install
        except UnitFileError:
            return "bad"
        return "disabled" if has_install else "static"

    # ---- boot and halt ----------------------------------------------------------------

    async def boot(self) -> None:
        """Start every enabled unit, as ``multi-user.target`` would."""
        for name in self.unit_file_names():
            if self.wants_links(name):
                await self.start(name)

    async def halt(self) -> None:
        """Power off: every process dies at once, nothing is logged."""
        for unit in self.units.values():
            if unit.restart_timer is not None:
                unit.restart_timer.cancel()
            await self._kill(unit)

    # ---- jobs -------------------------------------------------------------------------

    def _describe(self, unit: UnitState) -> str:
        config = unit.config
        if config is None or config.description == unit.name:
            return unit.name
        return f"{unit.name} - {config.description}"

    def reload_warning(self, unit: UnitState) -> str:
        if not self.need_daemon_reload(unit):
            return ""
        return (
            f"Warning: The unit file, source configuration file or drop-ins of {unit.name} "
            "changed on disk. Run 'systemctl daemon-reload' to reload units.\n"
        )

    async def start(self, name: str) -> JobOutcome:
        unit = self.load(name)
        if unit.load_state == "not-found":
            return JobOutcome(5, f"Failed to start {name}: Unit {name} not found.\n")
        if unit.load_state != "loaded":
            return JobOutcome(
                1,
                f"Failed to start {name}: Unit {name} has a bad unit file setting.\n"
                f"See system logs and 'systemctl status {name}' for details.\n",
            )
        warning = self.reload_warning(unit)
        if unit.active in ("active", "activating") and unit.restart_timer is None:
            return JobOutcome(0, warning)
        if unit.restart_timer is not None:
            unit.restart_timer.cancel()
            unit.restart_timer = None
        outcome = await self._start_job(unit)
        return JobOutcome(outcome.rc, warning + outcome.stderr)

    def _job_failed(self, unit: UnitState, reason: str = "") -> JobOutcome:
        because = f" because {reason}" if reason else ""
        return JobOutcome(
            1,
            f"Job for {unit.name} failed{because}.\n"
            f'See "systemctl status {unit.name}" and "journalctl -xeu {unit.name}" '
            "for details.\n",
        )

    def _start_limit_hit(self, unit: UnitState, config: ServiceUnit) -> bool:
        now = self.host.clock()
        history = unit.start_history
        while history and now - history[0] > config.start_limit_interval_sec:
            history.popleft()
        if config.start_limit_burst and len(history) >= config.start_limit_burst:
            return True
        history.append(now)
        return False

    async def _start_job(self, unit: UnitState) -> JobOutcome:
        config = unit.config
        assert config is not None
        log = self.host.journal.log
        if self._start_limit_hit(unit, config):
            unit.result = "start-limit-hit"
            self._enter(unit, "failed", "failed")
            log(unit.name, f"{unit.name}: Start request repeated too quickly.")
            log(unit.name, f"{unit.name}: Failed with result 'start-limit-hit'.")
            log(unit.name, f"Failed to start {self._describe(unit)}.")
            return self._job_failed(unit)
        unit.result = "success"
        log(unit.name, f"Starting {self._describe(unit)}...")
        try:
            launch = self._prepare(config)
        except OSError as exc:
            unit.result = "resources"
            self._enter(unit, "failed", "failed")
            log(unit.name, f"{unit.name}: Failed to load environment files: {exc.strerror}")
            log(unit.name, f"{unit.name}: Failed to run 'start' task: {exc.strerror}")
            log(unit.name, f"{unit.name}: Failed with result 'resources'.")
            log(unit.name, f"Failed to start {self._describe(unit)}.")
            return self._job_failed(unit, "a configured resource limit was exceeded")
        return await self._spawn(unit, config, launch)

    async def _spawn(self, unit: UnitState, config: ServiceUnit, launch: Launch) -> JobOutcome:
        pid = self.host.next_pid()
        unit.main_pid = unit.exec_main_pid = pid
        unit.exec_main_code = unit.exec_main_status = 0
        unit.exec_main_start = self.host.clock()
        unit.ready = asyncio.get_running_loop().create_future()
        waits = config.type in ("notify", "exec", "oneshot", "forking")
        if config.type == "notify":
            self._enter(unit, "activating", "start")
        else:
            self._enter(unit, "active", "running")
            self.host.journal.log(unit.name, f"Started {self._describe(unit)}.")
        unit.process = asyncio.get_running_loop().create_task(self._run(unit, config, launch))
        if not waits or (config.type == "exec" and not launch.spawn_status):
            return JobOutcome()
        try:
            async with asyncio.timeout(config.timeout_start_sec):
                ready = await asyncio.shield(unit.ready)
        except TimeoutError:
            return self._job_failed(unit, "a timeout was exceeded")
        if ready:
            return JobOutcome()
        return self._job_failed(unit, "the control process exited with error code")

    def _prepare(self, config: ServiceUnit) -> Launch:
        """Read what PID 1 reads just before exec: environment files, the release dir."""
        env = dict(config.environment)
        for spec in config.environment_files:
            optional = spec.startswith("-")
            path = spec.lstrip("-")
            try:
                env.update(parse_environment_file(self.host.disk.host(path).read_bytes()))
            except (FileNotFoundError, NotADirectoryError):
                if not optional:
                    raise OSError(errno.ENOENT, os.strerror(errno.ENOENT)) from None
        work_dir, spawn_status = None, 0
        if config.working_directory:
            optional = config.working_directory.startswith("-")
            work_dir = config.working_directory.lstrip("-")
            if not self.host.disk.host(work_dir).is_dir() and not optional:
                spawn_status = 200
        if config.user and self.host.disk.accounts().user(config.user) is None:
            spawn_status = 217
        program = shlex.split(config.exec_start)[0].lstrip("@-:+!") if config.exec_start else ""
        # A packaged service's binary exists only once its package is installed.
        missing = packaged_program(program) and not self.host.disk.host(program).is_file()
        if not spawn_status and missing:
            spawn_status = 203
        simulate = Simulate()
        if work_dir and not spawn_status:
            simulate_file = self.host.disk.host(work_dir) / "SIMULATE"
            if simulate_file.is_file():
                simulate = Simulate.parse(simulate_file.read_text())
        return Launch(env, work_dir, simulate, spawn_status)

    async def _run(self, unit: UnitState, config: ServiceUnit, launch: Launch) -> None:
        """The main process. Returns when it exits on its own; cancelled on stop."""
        status = launch.spawn_status
        if not status:
            status = await self._serve(unit, config, launch)
        await self._release(unit)
        self._main_exited(unit, config, status)

    async def _serve(self, unit: UnitState, config: ServiceUnit, launch: Launch) -> int:
        app_log = self._app_logger(unit, config)
        if launch.simulate.startup_delay:
            await self.host.sleep(launch.simulate.startup_delay)
        if launch.simulate.start == "fail":
            app_log("error: simulated start failure (SIMULATE start=fail)")
            return 1
        if config.type == "oneshot":
            return 0
        argv = shlex.split(config.exec_start)
        if argv[:2] == [lease.TOOL, "guard"] and len(argv) == 3:
            return await self._lease_guard(unit, argv[2], app_log)
        port_text = launch.env.get("PORT")
        if port_text is None:
            # A service that listens nowhere (an agent such as promtail pushing logs): it
            # runs until stopped, like the real daemon would.
            app_log("running (no PORT: listening nowhere)")
            self._became_ready(unit)
            await asyncio.Event().wait()
            return 0
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            app_log("error: PORT is not set to a TCP port")
            return 1
        bind = launch.env.get("HOST", self.host.address)
        app = self._make_app(unit, config, launch, app_log)
        unit.app = app  # a stop while it is still starting cleans it up too (``_release``)
        backend = await app.start()
        port = int(port_text)
        if bind not in LOOPBACK_HOSTS:
            try:
                await self.host.nic.publish(port, backend)
            except OSError as exc:
                await app.stop()
                app_log(f"error: [Errno {exc.errno}] {exc.strerror}: bind {bind}:{port}")
                return 1
        unit.app, unit.listen = app, (bind, port)
        app_log(f"listening on {bind}:{port}")
        self._became_ready(unit)
        if launch.simulate.crash_after is not None:
            await self.host.sleep(launch.simulate.crash_after)
            app_log("fatal: simulated crash (SIMULATE crash_after)")
            return 1
        await asyncio.Event().wait()
        return 0

    async def _lease_guard(self, unit: UnitState, guarded: str, log: Callable[[str], None]) -> int:
        """homeport's self-fence guard (``lease.py``), a program on the guest's disk."""
        if not self.host.disk.host(lease.TOOL).is_file():
            log(
                f"{unit.name}: Unable to locate executable '{lease.TOOL}': No such file or directory"
            )
            return 203
        self._became_ready(unit)
        return await lease.guard(
            self, guarded, frozen=self.host.frozen, thaw_hooks=self.host.thaw_hooks, log=log
        )

    def _app_logger(self, unit: UnitState, config: ServiceUnit) -> Callable[[str], None]:
        identifier = posixpath.basename(config.exec_start.split()[0]) if config.exec_start else ""
        pid = unit.main_pid

        def log(message: str) -> None:
            self.host.journal.log(unit.name, message, identifier=identifier or "app", pid=pid)

        return log

    def _make_app(
        self, unit: UnitState, config: ServiceUnit, launch: Launch, log: Callable[[str], None]
    ) -> SimApp:
        stem = unit.name.removesuffix(".service")
        release = stem
        if launch.work_dir:
            host_dir = self.host.disk.host(launch.work_dir)
            release = read_release(host_dir) or host_dir.name
        identity = AppIdentity(
            app=stem,
            unit=unit.name,
            vm=self.host.hostname(),
            release=release,
            env_names=tuple(sorted(launch.env)),
            epoch=launch.env.get("HOMEPORT_EPOCH"),
        )
        data_dir = launch.env.get("HOMEPORT_DATA_DIR", f"/srv/apps/{stem}/data")
        return SimApp(
            identity=identity,
            disk=self.host.disk,
            data_dir=data_dir,
            simulate=launch.simulate,
            live_fault=lambda: self.host.app_fault(unit.name),
            log=log,
            environment=dict(launch.env),
        )

    def _became_ready(self, unit: UnitState) -> None:
        if unit.active == "activating":
            self._enter(unit, "active", "running")
            self.host.journal.log(unit.name, f"Started {self._describe(unit)}.")
        if unit.ready is not None and not unit.ready.done():
            unit.ready.set_result(True)

    def _main_exited(self, unit: UnitState, config: ServiceUnit, status: int) -> None:
        log = self.host.journal.log
        unit.process = None
        unit.main_pid = 0
        unit.exec_main_code, unit.exec_main_status = 1, status
        unit.exec_main_exit = self.host.clock()
        if unit.ready is not None and not unit.ready.done():
            unit.ready.set_result(status == 0 and config.type == "oneshot")
        if status == 0:
            if config.remain_after_exit:
                self._enter(unit, "active", "exited")
                return
            log(unit.name, f"{unit.name}: Deactivated successfully.")
        else:
            name = EXIT_STATUS_NAMES.get(status, str(status))
            log(unit.name, f"{unit.name}: Main process exited, code=exited, status={status}/{name}")
            unit.result = "exit-code"
        restarts = config.restart == "always" or (config.restart == "on-failure" and status)
        if restarts:
            self._enter(unit, "activating", "auto-restart")
            unit.restart_timer = asyncio.get_running_loop().create_task(self._auto_restart(unit))
        elif status:
            log(unit.name, f"{unit.name}: Failed with result 'exit-code'.")
            self._enter(unit, "failed", "failed")
        else:
            self._enter(unit, "inactive", "dead")

    async def _auto_restart(self, unit: UnitState) -> None:
        config = unit.config
        assert config is not None
        await self.host.sleep(config.restart_sec)
        unit.restart_timer = None
        unit.n_restarts += 1
        self.host.journal.log(
            unit.name,
            f"{unit.name}: Scheduled restart job, restart counter is at {unit.n_restarts}.",
        )
        self.host.journal.log(unit.name, f"Stopped {self._describe(unit)}.")
        await self._start_job(unit)

    def _enter(self, unit: UnitState, active: str, sub: str) -> None:
        now = self.host.clock()
        if active == "active" and unit.active != "active":
            unit.active_enter = now
        if active in ("inactive", "failed") and unit.active not in ("inactive", "failed"):
            unit.inactive_enter = now
        unit.set_state(active, sub)

    async def _kill(self, unit: UnitState) -> None:
        process, unit.process = unit.process, None
        if process is not None:
            process.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await process
        await self._release(unit)
        unit.main_pid = 0

    async def _release(self, unit: UnitState) -> None:
        app, unit.app = unit.app, None
        listen, unit.listen = unit.listen, None
        if listen is not None and listen[0] not in LOOPBACK_HOSTS:
            await self.host.nic.unpublish(listen[1])
        if app is not None:
            await app.stop()

    async def stop(self, name: str) -> JobOutcome:
        unit = self.known(name)
        if unit is None:
            return JobOutcome(5, f"Failed to stop {name}: Unit {name} not loaded.\n")
        warning = self.reload_warning(unit)
        if unit.restart_timer is not None:
            unit.restart_timer.cancel()
            unit.restart_timer = None
        elif unit.active in ("inactive", "failed"):
            return JobOutcome(0, warning)
        log = self.host.journal.log
        log(unit.name, f"Stopping {self._describe(unit)}...")
        await self._kill(unit)
        if unit.exec_main_code == 0:
            unit.exec_main_code, unit.exec_main_status = 1, 0
            unit.exec_main_exit = self.host.clock()
        failed = unit.result != "success"
        if not failed:
            log(unit.name, f"{unit.name}: Deactivated successfully.")
        log(unit.name, f"Stopped {self._describe(unit)}.")
        self._enter(unit, "failed" if failed else "inactive", "failed" if failed else "dead")
        return JobOutcome(0, warning)

    async def restart(self, name: str, *, only_if_running: bool = False) -> JobOutcome:
        unit = self.known(name)
        if unit is None or unit.load_state == "not-found":
            if only_if_running:
                return JobOutcome()
            return JobOutcome(5, f"Failed to restart {name}: Unit {name} not found.\n")
        running = unit.active in ("active", "activating")
        if only_if_running and not running:
            return JobOutcome()
        if running:
            await self.stop(name)
        outcome = await self.start(name)
        if outcome.rc == 5:
            return JobOutcome(5, outcome.stderr.replace("to start", "to restart"))
        return outcome

    def reset_failed(self, name: str) -> JobOutcome:
        unit = self.units.get(name)
        if unit is None:
            return JobOutcome(
                1, f"Failed to reset failed state of unit {name}: Unit {name} not loaded.\n"
            )
        if unit.active == "failed":
            unit.set_state("inactive", "dead")
        unit.result = "success"
        unit.start_history.clear()
        return JobOutcome()

    def listening(self) -> list[tuple[str, int]]:
        return sorted(u.listen for u in self.units.values() if u.listen is not None)
