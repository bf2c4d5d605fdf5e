"""GNU ``tar -x`` inside a guest (Python's tarfile on the guest's disk): ``-f ARCHIVE``,
``-C DIR``, ``--strip-components=N``, ``--no-same-owner``; compression (gzip, bzip2, xz)
is detected as GNU tar does on extraction, ``-z``/``-j``/``-J`` are accepted.

Like GNU tar, a member that would land outside the target (``..``, a link pointing out)
is refused and reported, the rest is extracted, and the exit status is 2. What root
extracts belongs to root (the simulator keeps no archive owners, ``--no-same-owner``'s
effect); another user's extraction belongs to that user.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from .base import Completed, ExecContext, Output, parse_options

_LONG = ["extract", "file=", "directory=", "no-same-owner", "strip-components=", "gzip", "xz"]
_LONG += ["bzip2"]
_NOT_RECOVERABLE = "tar: Error is not recoverable: exiting now"


async def tar(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("tar", args, "xf:C:zjJ", _LONG)
    if isinstance(parsed, Completed):
        return Completed(2, parsed.stdout, parsed.stderr)
    opts, members = parsed
    options = dict(opts)
    if not {"-x", "--extract"} & options.keys() or members:
        return Completed.err(2, "homeport-sim: only 'tar -x -f ARCHIVE [-C DIR]' is simulated\n")
    archive = options.get("-f") or options.get("--file")
    if not archive:
        return Completed.err(2, "tar: Refusing to read archive contents from terminal\n")
    directory = options.get("-C") or options.get("--directory") or ctx.cwd
    strip = int(options.get("--strip-components") or 0)
    source, target = ctx.host(archive), ctx.host(directory)
    if not source.is_file():
        return Completed.err(
            2, f"tar: {archive}: Cannot open: No such file or directory\n{_NOT_RECOVERABLE}\n"
        )
    if not target.is_dir():
        return Completed.err(
            2, f"tar: {directory}: Cannot open: No such file or directory\n{_NOT_RECOVERABLE}\n"
        )
    try:
        with tarfile.open(source, "r:*") as opened:
            return _extract(ctx, opened, target, strip)
    except (tarfile.ReadError, EOFError):
        return Completed.err(
            2,
            "tar: This does not look like a tar archive\n"
            "tar: Exiting with failure status due to previous errors\n",
        )


def _extract(ctx: ExecContext, opened: tarfile.TarFile, target: Path, strip: int) -> Completed:
    out = Output()
    disk = ctx.guest.disk
    for member in opened.getmembers():
        parts = [p for p in member.name.split("/") if p not in ("", ".")]
        if len(parts) <= strip:
            continue
        member.name = "/".join(parts[strip:])
        try:
            disk.require_space()
            safe = tarfile.data_filter(member, str(target))
            opened.extract(safe, target, filter="fully_trusted")
        except tarfile.FilterError as exc:
            out.error(f"tar: {member.name}: {exc}", rc=2)
        except OSError as exc:
            out.error(f"tar: {member.name}: Cannot open: {exc.strerror}", rc=2)
    if out.rc:
        out.error("tar: Exiting with failure status due to previous errors", rc=2)
    disk.tag_tree(target, ctx.account.uid, ctx.account.gid)
    return out.done()
