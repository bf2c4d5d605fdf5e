"""``apt-get update|install`` and ``dpkg-query -W`` over the guest's package state
(``guest/dpkg.py``), with the real tools' answers: exit 100 and ``E:`` lines for a package
or version the archives do not have (nothing is installed then), root only, ``-y``
needed to proceed non-interactively, downgrades refused under ``-y`` unless allowed.
"""

from __future__ import annotations

import fnmatch
import getopt
import re

from homeport.simulator.guest.dpkg import (
    ARCHIVE,
    LISTS_MARKER,
    PROGRAMS,
    InstalledPackage,
    read_status,
    write_status,
)

from .base import Completed, ExecContext

_READING = "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
_FIELD = re.compile(r"\$\{([^};]+)(?:;(-?\d+))?\}")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\"}


def _not_root() -> Completed:
    return Completed.err(
        100,
        "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\n"
        "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), "
        "are you root?\n",
    )


async def apt_get(ctx: ExecContext, args: list[str]) -> Completed:
    try:
        opts, operands = getopt.gnu_getopt(
            args,
            "yqo:",
            ["yes", "assume-yes", "quiet", "no-install-recommends", "allow-downgrades", "option="],
        )
    except getopt.GetoptError as exc:
        return Completed.err(100, f"E: Command line option '{exc.opt}' is not understood\n")
    flags = {o for o, _ in opts}
    if not operands:
        return Completed.err(100, "E: No command given\n")  # apt-get prints its usage too
    command, names = operands[0], operands[1:]
    if command not in ("update", "install"):
        return Completed.err(100, f"E: Invalid operation {command}\n")
    if not ctx.account.is_root:
        return _not_root()
    if command == "update":
        ctx.guest.disk.write_file(LISTS_MARKER, b"")
        return Completed.out(
            "Hit:1 http://archive.ubuntu.com/ubuntu noble InRelease\nReading package lists...\n"
        )
    return _install(ctx, names, flags)


def _install(ctx: ExecContext, names: list[str], flags: set[str]) -> Completed:
    disk = ctx.guest.disk
    lists = disk.host(LISTS_MARKER).exists()
    installed = read_status(disk)
    errors: list[str] = []
    chosen: dict[str, str] = {}
    for arg in names:
        name, pinned, version = arg.partition("=")
        offered = ARCHIVE.get(name, ()) if lists else ()
        if not offered:
            errors.append(f"E: Unable to locate package {name}")
        elif pinned and version not in offered:
            errors.append(f"E: Version '{version}' for '{name}' was not found")
        else:
            chosen[name] = version if pinned else offered[-1]
    if errors:
        return Completed(100, _READING.encode(), ("\n".join(errors) + "\n").encode())
    out = [_READING]
    new: list[str] = []
    changed: list[str] = []
    downgraded: list[str] = []
    for name, version in chosen.items():
        have = installed.get(name)
        if have is not None and have.status.endswith(" installed"):
            if have.version == version:
                out.append(f"{name} is already the newest version ({version}).\n")
                continue
            offered = ARCHIVE[name]
            older = have.version in offered and offered.index(version) < offered.index(have.version)
            (downgraded if older else changed).append(name)
        else:
            new.append(name)
    if downgraded:
        out.append("The following packages will be DOWNGRADED:\n  " + " ".join(downgraded) + "\n")
    if new:
        out.append("The following NEW packages will be installed:\n  " + " ".join(new) + "\n")
    if changed:
        out.append("The following packages will be upgraded:\n  " + " ".join(changed) + "\n")
    out.append(
        f"{len(changed)} upgraded, {len(new)} newly installed, {len(downgraded)} downgraded, "
        "0 to remove and 0 not upgraded.\n"
    )
    todo = [*downgraded, *new, *changed]
    if not todo:
        return Completed.out("".join(out))
    if not flags & {"-y", "--yes", "--assume-yes"}:
        return Completed(1, ("".join(out) + "Do you want to continue? [Y/n] Abort.\n").encode())
    if downgraded and "--allow-downgrades" not in flags:
        return Completed(
            100,
            "".join(out).encode(),
            b"E: Packages were downgraded and -y was used without --allow-downgrades.\n",
        )
    for name in todo:
        installed[name] = InstalledPackage(name, chosen[name])
        disk.write_file(f"/usr/share/doc/{name}/copyright", f"{name} (simulated)\n".encode())
        for program in PROGRAMS.get(name, ()):
            disk.write_file(program, f"#!/bin/sh\n# {name} (simulated)\n".encode(), mode=0o755)
        out.append(f"Setting up {name} ({chosen[name]}) ...\n")
    write_status(disk, installed)
    return Completed.out("".join(out))


def render_format(template: str, fields: dict[str, str]) -> str:
    """dpkg-query's ``--showformat``: ``${Field}`` / ``${Field;width}`` and ``\\n \\t \\\\``."""
    text = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), template)

    def field(match: re.Match[str]) -> str:
        value = fields.get(match.group(1), "")
        width = int(match.group(2) or 0)
        return value.ljust(width) if width > 0 else value.rjust(-width)

    return _FIELD.sub(field, text)


async def dpkg_query(ctx: ExecContext, args: list[str]) -> Completed:
    try:
        opts, patterns = getopt.gnu_getopt(args, "Wf:", ["show", "showformat="])
    except getopt.GetoptError as exc:
        return Completed.err(2, f"dpkg-query: error: unknown option {exc.opt}\n")
    options = dict(opts)
    if not {"-W", "--show"} & options.keys():
        return Completed.err(2, "homeport-sim: only 'dpkg-query -W' is simulated\n")
    template = (
        options.get("-f") or options.get("--showformat") or r"${binary:Package}\t${Version}\n"
    )
    packages = read_status(ctx.guest.disk)
    out, err = [], []
    shown = [
        p
        for name, p in sorted(packages.items())
        if (not patterns and not p.status.endswith("not-installed"))
        or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    ]
    for package in shown:
        out.append(render_format(template, package.fields()))
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(p.name, pattern) for p in shown):
            err.append(f"dpkg-query: no packages found matching {pattern}\n")
    return Completed(1 if err else 0, "".join(out).encode(), "".join(err).encode())
