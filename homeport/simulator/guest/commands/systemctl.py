"""``systemctl`` and ``journalctl`` as systemd 255 (Ubuntu 24.04) answer them, rendered from
the guest's simulated systemd (``systemd.py``) and journal (``journal.py``).

Supported: ``systemctl [--no-pager] [--no-ask-password] [-q] [--now] VERB [UNIT...]`` with
VERB in daemon-reload, enable, disable, start, stop, restart, try-restart,
reload-or-restart, reset-failed, is-active, is-enabled, is-failed, show (``-p A,B``,
``--value``, ``-P``), cat, status; ``journalctl -u UNIT [-n N] [-f] [--no-pager] [-q]
[-o short|cat|json]`` (``-f`` over SSH only: it follows until the client closes).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable

from homeport.simulator.guest.journal import short_timestamp
from homeport.simulator.guest.systemd import JobOutcome, Systemd, UnitState, unit_name
from homeport.simulator.guest.units import UnitFileError, format_timespan, parse_unit

from .base import Completed, ExecContext, Output, parse_options

# How often ``journalctl -f`` looks for new entries (real journald is woken by inotify).
FOLLOW_POLL = 0.1

MUTATING = {
    "daemon-reload": "Failed to reload daemon",
    "enable": "Failed to enable unit",
    "disable": "Failed to disable unit",
    "start": "Failed to start {unit}",
    "stop": "Failed to stop {unit}",
    "restart": "Failed to restart {unit}",
    "try-restart": "Failed to try-restart {unit}",
    "reload-or-restart": "Failed to reload-or-restart {unit}",
    "reset-failed": "Failed to reset failed state of unit {unit}",
}
ENABLED_STATES = {"enabled", "enabled-runtime", "static", "alias", "indirect", "generated"}

SHORT = "p:P:aqlt:"
LONG = [
    "no-pager",
    "no-ask-password",
    "quiet",
    "now",
    "no-block",
    "property=",
    "value",
    "all",
    "full",
    "system",
    "plain",
    "no-legend",
    "type=",
]


def _timestamp(value: float | None) -> str:
    if value is None:
        return "n/a"
    return time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(value))


def unit_properties(systemd: Systemd, unit: UnitState) -> list[tuple[str, str]]:
    """``systemctl show`` properties in D-Bus order (service interface, then unit)."""
    config = unit.config
    env = (
        " ".join(f"{k}={v}" if " " not in v else f'"{k}={v}"' for k, v in config.environment)
        if config
        else ""
    )
    props: list[tuple[str, str]] = [
        ("Type", config.type if config else "simple"),
        ("ExitType", "main"),
        ("Restart", config.restart if config else "no"),
        ("RestartUSec", format_timespan(config.restart_sec if config else 0.1)),
        ("TimeoutStartUSec", format_timespan(config.timeout_start_sec if config else 90)),
        ("Result", unit.result),
        ("MainPID", str(unit.main_pid)),
        ("ControlPID", "0"),
        ("StatusErrno", "0"),
        ("NRestarts", str(unit.n_restarts)),
        ("ExecMainStartTimestamp", _timestamp(unit.exec_main_start)),
        ("ExecMainExitTimestamp", _timestamp(unit.exec_main_exit)),
        ("ExecMainPID", str(unit.exec_main_pid)),
        ("ExecMainCode", str(unit.exec_main_code)),
        ("ExecMainStatus", str(unit.exec_main_status)),
        ("Environment", env),
    ]
    for spec in config.environment_files if config else ():
        optional = "yes" if spec.startswith("-") else "no"
        props.append(("EnvironmentFiles", f"{spec.lstrip('-')} (ignore_errors={optional})"))
    file_state = systemd.unit_file_state(unit.name)
    props += [
        ("User", (config.user or "") if config else ""),
        ("Group", (config.group or "") if config else ""),
        ("WorkingDirectory", (config.working_directory or "") if config else ""),
        ("Id", unit.name),
        ("Names", unit.name),
        ("Description", config.description if config else unit.name),
        ("LoadState", unit.load_state),
        ("ActiveState", unit.active),
        ("FreezerState", "running"),
        ("SubState", unit.sub),
        ("FragmentPath", config.fragment_path if config else ""),
        ("UnitFileState", file_state),
        ("UnitFilePreset", "enabled" if file_state else ""),
        ("ActiveEnterTimestamp", _timestamp(unit.active_enter)),
        ("InactiveEnterTimestamp", _timestamp(unit.inactive_enter)),
        ("CanStart", "yes" if unit.load_state == "loaded" else "no"),
        ("CanStop", "yes" if unit.load_state == "loaded" else "no"),
        ("NeedDaemonReload", "yes" if systemd.need_daemon_reload(unit) else "no"),
    ]
    if unit.load_state == "not-found":
        props.append(
            ("LoadError", f'org.freedesktop.systemd1.NoSuchUnit "Unit {unit.name} not found."')
        )
    elif unit.load_state == "bad-setting":
        props.append(("LoadError", f'org.freedesktop.systemd1.BadUnitSetting "{unit.load_error}"'))
    return props


def _show(systemd: Systemd, units: list[str], opts: list[tuple[str, str]]) -> Completed:
    wanted: list[str] = []
    value_only = False
    for opt, value in opts:
        if opt in ("-p", "--property", "-P"):
            wanted += [p for p in value.split(",") if p]
        if opt in ("--value", "-P"):
            value_only = True
    show_all = any(o in ("-a", "--all") for o, _ in opts)
    if not units:
        return Completed.out("Version=255.4-1ubuntu8.4\nSystemState=running\n")
    blocks = []
    for name in units:
        props = unit_properties(systemd, systemd.load(name))
        lines = []
        for key, value in props:
            if wanted and key not in wanted:
                continue
            if not wanted and not value and not show_all:
                continue
            lines.append(value if value_only else f"{key}={value}")
        blocks.append("".join(line + "\n" for line in lines))
    return Completed.out("\n".join(blocks))


async def _enable(
    ctx: ExecContext, systemd: Systemd, units: list[str], now: bool, out: Output
) -> None:
    changed = False
    for name in units:
        content = systemd.read_fragment(name)
        if content is None:
            out.error(f"Failed to enable unit: Unit file {name} does not exist.")
            return
        try:  # enable reads the file on disk, not the loaded unit
            wanted_by = parse_unit(name, systemd.fragment(name), content).wanted_by
        except UnitFileError:
            wanted_by = ()
        if not wanted_by:
            out.error(
                "The unit files have no installation config (WantedBy=, RequiredBy=, UpheldBy=, "
                "Also=,\nor Alias= settings in the [Install] section, and DefaultInstance= for "
                "template\nunits). This means they are not meant to be enabled or disabled using "
                "systemctl.\n \nPossible reasons for having these kinds of units are:\n"
                "• A unit may be statically enabled by being symlinked from another unit's\n"
                "  .wants/, .requires/, or .upholds/ directory.\n",
                rc=0,
            )
        for target in wanted_by:
            link = f"/etc/systemd/system/{target}.wants/{name}"
            host = ctx.guest.disk.host(link, follow_last=False)
            if host.is_symlink():
                continue
            host.parent.mkdir(parents=True, exist_ok=True)
            host.symlink_to(systemd.fragment(name))
            out.error(f"Created symlink {link} \u2192 {systemd.fragment(name)}.", rc=0)
            changed = True
    if changed:
        systemd.daemon_reload()
    if now:
        for name in units:
            _merge(out, await systemd.start(name))


async def _disable(
    ctx: ExecContext, systemd: Systemd, units: list[str], now: bool, out: Output
) -> None:
    changed = False
    for name in units:
        if systemd.read_fragment(name) is None:
            out.error(f"Failed to disable unit: Unit file {name} does not exist.")
            return
        for link in systemd.wants_links(name):
            ctx.guest.disk.host(link, follow_last=False).unlink()
            out.error(f'Removed "{link}".', rc=0)
            changed = True
    if changed:
        systemd.daemon_reload()
    if now:
        for name in units:
            _merge(out, await systemd.stop(name))


def _merge(out: Output, outcome: JobOutcome) -> None:
    if outcome.stderr:
        out.error(outcome.stderr, rc=outcome.rc)
    out.rc = max(out.rc, outcome.rc)


def _is_active(systemd: Systemd, units: list[str], quiet: bool, failed: bool) -> Completed:
    out = Output()
    hit = False
    for name in units:
        unit = systemd.units.get(name)
        state = unit.active if unit else "inactive"
        hit = hit or (state == "failed" if failed else state == "active")
        if not quiet:
            out.print(state + "\n")
    out.rc = 0 if hit else (1 if failed else 3)
    return out.done()


def _is_enabled(systemd: Systemd, units: list[str], quiet: bool) -> Completed:
    out = Output()
    good = False
    for name in units:
        state = systemd.unit_file_state(name)
        if not state:
            out.error(f"Failed to get unit file state for {name}: No such file or directory")
            continue
        good = good or state in ENABLED_STATES
        if not quiet:
            out.print(state + "\n")
    out.rc = 0 if good else 1
    return out.done()


def _cat(ctx: ExecContext, systemd: Systemd, units: list[str]) -> Completed:
    out = Output()
    for index, name in enumerate(units):
        content = systemd.read_fragment(name)
        if content is None:
            out.error(f"No files found for {name}.")
            continue
        prefix = "\n" if index else ""
        text = content.decode(errors="replace")
        out.print(f"{prefix}# {systemd.fragment(name)}\n{text}")
    return out.done()


def _status(systemd: Systemd, units: list[str], now: float) -> Completed:
    out = Output()
    for name in units:
        unit = systemd.known(name)
        if unit is None or unit.load_state == "not-found":
            out.error(f"Unit {name} could not be found.", rc=4)
            continue
        config = unit.config
        description = config.description if config else name
        file_state = systemd.unit_file_state(name)
        since = unit.active_enter if unit.active == "active" else unit.inactive_enter
        when = f" since {_timestamp(since)}; {int(now - since)}s ago" if since else ""
        dot = "\u25cf" if unit.active in ("active", "failed") else "\u25cb"
        out.print(
            f"{dot} {name} - {description}\n"
            f"     Loaded: {unit.load_state} ({systemd.fragment(name)}; {file_state}; "
            "preset: enabled)\n"
            f"     Active: {unit.active} ({unit.sub}){when}\n"
        )
        if unit.main_pid:
            out.print(f"   Main PID: {unit.main_pid}\n")
        if unit.active != "active":
            out.rc = max(out.rc, 3)
    return out.done()


async def systemctl(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("systemctl", args, SHORT, LONG)
    if isinstance(parsed, Completed):
        return parsed
    opts, words = parsed
    if not words:
        return Completed.err(1, "homeport-sim: 'systemctl' without a verb is not simulated\n")
    verb, names = words[0], [unit_name(w) for w in words[1:]]
    flags = {o for o, _ in opts}
    quiet = bool(flags & {"-q", "--quiet"})
    now = "--now" in flags
    systemd = ctx.guest.systemd
    if verb in MUTATING and not ctx.account.is_root:
        message = MUTATING[verb].format(unit=names[0] if names else "")
        hint = (
            f"\nSee system logs and 'systemctl status {names[0]}' for details."
            if "{unit}" in MUTATING[verb] and names
            else ""
        )
        return Completed.err(1, f"{message}: Interactive authentication required.{hint}\n")
    needs_units = verb not in ("daemon-reload", "show", "status")
    if needs_units and not names:
        return Completed.err(1, "Too few arguments.\n")
    out = Output()
    if verb == "daemon-reload":
        systemd.daemon_reload()
    elif verb == "enable":
        await _enable(ctx, systemd, names, now, out)
    elif verb == "disable":
        await _disable(ctx, systemd, names, now, out)
    elif verb == "start":
        for name in names:
            _merge(out, await systemd.start(name))
    elif verb == "stop":
        for name in names:
            _merge(out, await systemd.stop(name))
    elif verb in ("restart", "reload-or-restart"):
        for name in names:
            _merge(out, await systemd.restart(name))
    elif verb == "try-restart":
        for name in names:
            _merge(out, await systemd.restart(name, only_if_running=True))
    elif verb == "reset-failed":
        for name in names:
            _merge(out, systemd.reset_failed(name))
    elif verb in ("is-active", "is-failed"):
        return _is_active(systemd, names, quiet, verb == "is-failed")
    elif verb == "is-enabled":
        return _is_enabled(systemd, names, quiet)
    elif verb == "show":
        return _show(systemd, names, opts)
    elif verb == "cat":
        return _cat(ctx, systemd, names)
    elif verb == "status":
        return _status(systemd, names, ctx.guest.clock())
    else:
        return Completed.err(1, f"Unknown command verb '{verb}'.\n")
    return out.done()


def _journal_lines(ctx: ExecContext, units: Iterable[str], output: str, limit: int | None) -> str:
    entries = [e for e in ctx.guest.journal.entries() if e.unit in set(units)]
    if limit is not None:
        entries = entries[-limit:] if limit else []
    host = ctx.guest.hostname()
    lines = []
    for entry in entries:
        if output == "cat":
            lines.append(entry.message)
        elif output == "json":
            lines.append(
                json.dumps(
                    {
                        "__REALTIME_TIMESTAMP": str(int(entry.timestamp * 1_000_000)),
                        "_HOSTNAME": host,
                        "SYSLOG_IDENTIFIER": entry.identifier,
                        "_PID": str(entry.pid),
                        "_SYSTEMD_UNIT": entry.unit,
                        "PRIORITY": "6",
                        "MESSAGE": entry.message,
                    }
                )
            )
        else:
            stamp = short_timestamp(entry.timestamp)
            lines.append(f"{stamp} {host} {entry.identifier}[{entry.pid}]: {entry.message}")
    return "".join(line + "\n" for line in lines)


async def journalctl(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options(
        "journalctl",
        args,
        "u:n:o:qbxeaf",
        [
            "unit=",
            "lines=",
            "output=",
            "no-pager",
            "quiet",
            "boot",
            "all",
            "no-hostname",
            "follow",
        ],
    )
    if isinstance(parsed, Completed):
        return parsed
    opts, _ = parsed
    units: list[str] = []
    output, limit = "short", None
    quiet = follow = False
    for opt, value in opts:
        if opt in ("-u", "--unit"):
            units.append(unit_name(value))
        elif opt in ("-n", "--lines"):
            if not value.isdigit():
                return Completed.err(1, f"Failed to parse lines '{value}'\n")
            limit = int(value)
        elif opt in ("-o", "--output"):
            if value not in ("short", "cat", "json"):
                return Completed.err(1, f"homeport-sim: output mode '{value}' is not simulated\n")
            output = value
        elif opt in ("-q", "--quiet"):
            quiet = True
        elif opt in ("-f", "--follow"):
            follow = True
    if not units:
        return Completed.err(1, "homeport-sim: journalctl without -u is not simulated\n")
    notice = ""
    if not ctx.account.is_root and not ctx.account.groups & {4, 999}:
        if not quiet:
            notice = (
                "Hint: You are currently not seeing messages from other users and the system.\n"
                "      Users in groups 'adm', 'systemd-journal' can see all messages.\n"
                "      Pass -q to turn off this notice.\n"
            )
        text = ""
    else:
        text = _journal_lines(ctx, units, output, limit)
    if follow and not notice:
        if ctx.stream is None:
            return Completed.err(1, "homeport-sim: journalctl -f is simulated over SSH only\n")
        return await _follow(ctx, units, output, limit)
    if not text and not quiet:
        text = "-- No entries --\n"
    return Completed(0, text.encode(), notice.encode())


async def _follow(ctx: ExecContext, units: list[str], output: str, limit: int | None) -> Completed:
    """``journalctl -f``: the last lines (10 unless -n), then each new one as it is logged,
    until the reader goes away (journalctl then dies of SIGPIPE; nobody sees its status)."""
    assert ctx.stream is not None
    seen = len([e for e in ctx.guest.journal.entries() if e.unit in set(units)])
    text = _journal_lines(ctx, units, output, 10 if limit is None else limit)
    alive = ctx.stream(text.encode())
    while alive:
        await asyncio.sleep(FOLLOW_POLL)
        fresh = _journal_lines(ctx, units, output, None).splitlines(keepends=True)[seen:]
        seen += len(fresh)
        alive = ctx.stream("".join(fresh).encode())
    return Completed(141, b"", b"")
