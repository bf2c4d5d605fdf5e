"""coreutils file commands (Ubuntu 24.04, coreutils 9.4) over the guest disk.

``sha256sum``, ``stat``, ``test``, ``mkdir``, ``chmod``, ``chown``, ``mv``, ``ln``, ``rm``,
``readlink``, ``cat``, ``ls``, ``install``. Paths are guest paths resolved by
``rootfs.GuestDisk``; ownership is the simulated one; non-root accounts get the permission
errors the real tools print.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import shutil
import stat
import time
from pathlib import Path

from homeport.simulator.guest.rootfs import R_OK, W_OK, X_OK, permission_denied

from .base import (
    Completed,
    ExecContext,
    Output,
    missing_operand,
    parse_options,
    quote_locale,
    quote_shell,
    strerror,
)


def _exists(host: Path) -> bool:
    return host.exists() or host.is_symlink()


async def sha256sum(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("sha256sum", args, "bctwz", ["check", "quiet", "status", "binary"])
    if isinstance(parsed, Completed):
        return parsed
    opts, files = parsed
    flags = {o for o, _ in opts}
    if "-c" in flags or "--check" in flags:
        return await _sha256_check(ctx, files or ["-"], flags)
    out = Output()
    for name in files or ["-"]:
        data = await _read_input(ctx, "sha256sum", name, out)
        if data is not None:
            out.print(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    return out.done()


async def _read_input(ctx: ExecContext, program: str, name: str, out: Output) -> bytes | None:
    if name == "-":
        return await ctx.stdin()
    try:
        host = ctx.host(name)
        if host.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        ctx.guest.disk.require(ctx.account, host, R_OK)
        return host.read_bytes()
    except OSError as exc:
        out.error(f"{program}: {name}: {strerror(exc)}")
        return None


async def _sha256_check(ctx: ExecContext, files: list[str], flags: set[str]) -> Completed:
    out = Output()
    mismatches = 0
    for listing in files:
        text = await _read_input(ctx, "sha256sum", listing, out)
        for line in (text or b"").decode(errors="replace").splitlines():
            expected, _, name = line.partition("  ")
            data = await _read_input(ctx, "sha256sum", name, out)
            good = data is not None and hashlib.sha256(data).hexdigest() == expected.strip()
            if not good:
                mismatches += 1
            if "--status" not in flags and (not good or "--quiet" not in flags):
                out.print(f"{name}: {'OK' if good else 'FAILED'}\n")
    if mismatches and "--status" not in flags:
        noun = "checksum" if mismatches == 1 else "checksums"
        out.error(f"sha256sum: WARNING: {mismatches} computed {noun} did NOT match")
    elif mismatches:
        out.rc = 1
    return out.done()


def _human_time(seconds: float) -> str:
    whole = int(seconds)
    nanos = round((seconds - whole) * 1e9)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + f".{nanos:09d} +0000"


def _stat_field(ctx: ExecContext, name: str, host: Path, st: os.stat_result, c: str) -> str:
    disk = ctx.guest.disk
    uid, gid = disk.owner(host)
    accounts = ctx.guest.disk.accounts()
    simple: dict[str, object] = {
        "a": f"{stat.S_IMODE(st.st_mode):o}",
        "A": stat.filemode(st.st_mode),
        "f": f"{st.st_mode:x}",
        "F": disk.file_type(host),
        "g": gid,
        "G": accounts.by_gid(gid),
        "h": st.st_nlink,
        "i": st.st_ino,
        "n": name,
        "s": st.st_size,
        "u": uid,
        "U": accounts.by_uid(uid),
        "X": int(st.st_atime),
        "Y": int(st.st_mtime),
        "Z": int(st.st_ctime),
        "x": _human_time(st.st_atime),
        "y": _human_time(st.st_mtime),
        "z": _human_time(st.st_ctime),
    }
    if c == "N":
        if stat.S_ISLNK(st.st_mode):
            return f"{quote_shell(name)} -> {quote_shell(os.readlink(host))}"
        return quote_shell(name)
    if c in simple:
        return str(simple[c])
    return "?"


def _render_stat(ctx: ExecContext, name: str, host: Path, st: os.stat_result, fmt: str) -> str:
    def field(match: re.Match[str]) -> str:
        return "%" if match[1] == "%" else _stat_field(ctx, name, host, st, match[1])

    return re.sub(r"%(.)", field, fmt)


def _unescape(text: str) -> str:
    return text.encode().decode("unicode_escape")


async def stat_(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("stat", args, "c:Lt", ["format=", "printf=", "dereference"])
    if isinstance(parsed, Completed):
        return parsed
    opts, files = parsed
    if not files:
        return missing_operand("stat")
    fmt, newline, follow = None, True, False
    for opt, value in opts:
        if opt in ("-c", "--format"):
            fmt, newline = value, True
        elif opt == "--printf":
            fmt, newline = _unescape(value), False
        elif opt in ("-L", "--dereference"):
            follow = True
    if fmt is None:
        fmt = "  File: %N\n  Size: %s\tType: %F\nAccess: (0%a/%A)  Uid: (%u/%U)  Gid: (%g/%G)"
    out = Output()
    for name in files:
        try:
            host = ctx.host(name, follow_last=follow)
            st = host.stat() if follow else host.lstat()
        except OSError as exc:
            out.error(f"stat: cannot statx {quote_shell(name)}: {strerror(exc)}")
            continue
        out.print(_render_stat(ctx, name, host, st, fmt) + ("\n" if newline else ""))
    return out.done()


FILE_TESTS = "efdLhsrwx"


async def test(ctx: ExecContext, args: list[str]) -> Completed:
    if args and args[0] == "!":
        inner = await test(ctx, args[1:])
        return Completed(
            0 if inner.rc == 1 else (1 if inner.rc == 0 else inner.rc), b"", inner.stderr
        )
    if not args:
        return Completed(1)
    if len(args) == 1:
        return Completed(0 if args[0] else 1)
    if len(args) == 2 and args[0] in ("-n", "-z"):
        empty = args[1] == ""
        return Completed(0 if empty == (args[0] == "-z") else 1)
    if len(args) == 2 and len(args[0]) == 2 and args[0][0] == "-" and args[0][1] in FILE_TESTS:
        return Completed(0 if _file_test(ctx, args[0][1], args[1]) else 1)
    if len(args) == 3 and args[1] in ("=", "!=", "=="):
        return Completed(0 if (args[0] == args[2]) == (args[1] != "!=") else 1)
    return Completed.err(2, f"sh: 1: test: {args[0]}: unexpected operator\n")


def _file_test(ctx: ExecContext, op: str, path: str) -> bool:
    try:
        host = ctx.host(path, follow_last=op not in "Lh")
    except OSError:
        return False
    if op in "Lh":
        return host.is_symlink()
    if not host.exists():
        return False
    disk, account = ctx.guest.disk, ctx.account
    if op == "f":
        return host.is_file()
    if op == "d":
        return host.is_dir()
    if op == "s":
        return host.stat().st_size > 0
    if op in "rw":
        return disk.may(account, host, R_OK if op == "r" else W_OK)
    if op == "x":
        executable = not account.is_root or bool(host.stat().st_mode & 0o111)
        return executable and disk.may(account, host, X_OK)
    return True


def parse_mode(spec: str, current: int, is_dir: bool) -> int | None:
    """Octal or symbolic (``u+x,go-w``) chmod modes; None if invalid."""
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    mode = current
    for clause in spec.split(","):
        match = re.fullmatch(r"([ugoa]*)([+\-=])([rwxXst]*)", clause)
        if not match:
            return None
        who, op, perms = match.groups()
        who = who or "a"
        bits = 0
        for p in perms:
            for w in "ugo" if "a" in who else who:
                shift = {"u": 6, "g": 3, "o": 0}[w]
                if p == "r":
                    bits |= 4 << shift
                elif p == "w":
                    bits |= 2 << shift
                elif p == "x" or (p == "X" and (is_dir or current & 0o111)):
                    bits |= 1 << shift
                elif p == "s" and w in "ug":
                    bits |= stat.S_ISUID if w == "u" else stat.S_ISGID
                elif p == "t":
                    bits |= stat.S_ISVTX
        mask = 0
        for w in "ugo" if "a" in who else who:
            mask |= 0o7 << {"u": 6, "g": 3, "o": 0}[w]
        if op == "+":
            mode |= bits
        elif op == "-":
            mode &= ~bits
        else:
            mode = (mode & ~mask) | bits
    return mode


def _make_dirs(ctx: ExecContext, name: str, mode: int, *, parents: bool, out: Output) -> bool:
    disk = ctx.guest.disk
    try:
        host = ctx.host(name)
        if _exists(host):
            if parents and host.is_dir():
                return True
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST))
        missing: list[Path] = []
        probe = host
        while not _exists(probe):
            missing.append(probe)
            probe = probe.parent
        if len(missing) > 1 and not parents:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
        if not probe.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        for directory in reversed(missing):
            disk.require_dir_writable(ctx.account, directory)
            disk.require_space()
            directory.mkdir()
            directory.chmod(mode if directory == host else 0o755)
            disk.chown(directory, ctx.account.uid, ctx.account.gid)
        return True
    except OSError as exc:
        out.error(f"mkdir: cannot create directory {quote_locale(name)}: {strerror(exc)}")
        return False


async def mkdir(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("mkdir", args, "pm:v", ["parents", "mode=", "verbose"])
    if isinstance(parsed, Completed):
        return parsed
    opts, paths = parsed
    if not paths:
        return missing_operand("mkdir")
    parents = any(o in ("-p", "--parents") for o, _ in opts)
    mode = 0o755
    for opt, value in opts:
        if opt in ("-m", "--mode"):
            parsed_mode = parse_mode(value, 0o777, True)
            if parsed_mode is None:
                return Completed.err(1, f"mkdir: invalid mode {quote_locale(value)}\n")
            mode = parsed_mode
    out = Output()
    for path in paths:
        _make_dirs(ctx, path, mode, parents=parents, out=out)
    return out.done()


def _walk(host: Path, recursive: bool) -> list[Path]:
    paths = [host]
    if recursive and host.is_dir() and not host.is_symlink():
        for base, dirs, files in os.walk(host):
            paths.extend(Path(base) / n for n in dirs + files)
    return paths


async def chmod(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("chmod", args, "Rfv", ["recursive", "silent", "quiet"])
    if isinstance(parsed, Completed):
        return parsed
    opts, rest = parsed
    if len(rest) < 2:
        return missing_operand("chmod")
    spec, files = rest[0], rest[1:]
    recursive = any(o in ("-R", "--recursive") for o, _ in opts)
    out = Output()
    for name in files:
        try:
            host = ctx.host(name)
            if not host.exists():
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
        except OSError as exc:
            out.error(f"chmod: cannot access {quote_shell(name)}: {strerror(exc)}")
            continue
        for target in _walk(host, recursive):
            if target.is_symlink():
                continue
            st = target.stat()
            mode = parse_mode(spec, stat.S_IMODE(st.st_mode), target.is_dir())
            if mode is None:
                return Completed.err(1, f"chmod: invalid mode: {quote_locale(spec)}\n")
            if not ctx.account.is_root and ctx.guest.disk.owner(target)[0] != ctx.account.uid:
                out.error(
                    f"chmod: changing permissions of {quote_shell(name)}: Operation not permitted"
                )
                continue
            target.chmod(mode)
    return out.done()


async def chown(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("chown", args, "Rhfv", ["recursive", "no-dereference", "silent"])
    if isinstance(parsed, Completed):
        return parsed
    opts, rest = parsed
    if len(rest) < 2:
        return missing_operand("chown")
    spec, files = rest[0], rest[1:]
    flags = {o for o, _ in opts}
    accounts = ctx.guest.disk.accounts()
    try:
        uid, gid = accounts.resolve_owner(spec)
    except KeyError as exc:
        which = exc.args[0]
        shown = spec if which == "group" else spec.partition(":")[0]
        return Completed.err(1, f"chown: invalid {which}: {quote_locale(shown)}\n")
    out = Output()
    for name in files:
        try:
            host = ctx.host(name, follow_last="-h" not in flags)
            if not _exists(host):
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
        except OSError as exc:
            out.error(f"chown: cannot access {quote_shell(name)}: {strerror(exc)}")
            continue
        if not ctx.account.is_root:
            out.error(f"chown: changing ownership of {quote_shell(name)}: Operation not permitted")
            continue
        for target in _walk(host, "-R" in flags or "--recursive" in flags):
            old_uid, old_gid = ctx.guest.disk.owner(target)
            ctx.guest.disk.chown(
                target, old_uid if uid is None else uid, old_gid if gid is None else gid
            )
    return out.done()


async def mv(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("mv", args, "fTnv", ["force", "no-target-directory", "no-clobber"])
    if isinstance(parsed, Completed):
        return parsed
    opts, rest = parsed
    if len(rest) < 2:
        return missing_operand("mv")
    flags = {o for o, _ in opts}
    disk = ctx.guest.disk
    *sources, dest = rest
    out = Output()
    for source in sources:
        try:
            src = ctx.host(source, follow_last=False)
            if not _exists(src):
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
        except OSError as exc:
            out.error(f"mv: cannot stat {quote_shell(source)}: {strerror(exc)}")
            continue
        dst = ctx.host(dest)
        if dst.is_dir() and "-T" not in flags and "--no-target-directory" not in flags:
            dst = dst / src.name
        else:
            dst = ctx.host(dest, follow_last=False)
        try:
            disk.require_dir_writable(ctx.account, src)
            disk.require_dir_writable(ctx.account, dst)
            if dst.is_dir() and not dst.is_symlink() and not src.is_dir():
                out.error(f"mv: cannot overwrite directory {quote_shell(dest)} with non-directory")
                continue
            src_gpath, dst_gpath = disk.guest(src), disk.guest(dst)
            os.replace(src, dst)
            disk.owners.moved(src_gpath, dst_gpath)
        except OSError as exc:
            out.error(
                f"mv: cannot move {quote_shell(source)} to {quote_shell(dest)}: {strerror(exc)}"
            )
    return out.done()


async def ln(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options(
        "ln", args, "sfnTv", ["symbolic", "force", "no-dereference", "no-target-directory"]
    )
    if isinstance(parsed, Completed):
        return parsed
    opts, rest = parsed
    flags = {o for o, _ in opts}
    if not rest:
        return missing_operand("ln")
    target = rest[0]
    link_name = rest[1] if len(rest) > 1 else posixpath.basename(target)
    symbolic = "-s" in flags or "--symbolic" in flags
    no_deref = "-n" in flags or "--no-dereference" in flags or "-T" in flags
    disk = ctx.guest.disk
    link = ctx.host(link_name, follow_last=not no_deref)
    if link.is_dir() and not (no_deref and link.is_symlink()):
        if "-T" in flags:
            return Completed.err(1, f"ln: {quote_shell(link_name)}: cannot overwrite directory\n")
        link = link / posixpath.basename(target)
    else:
        link = ctx.host(link_name, follow_last=False)
    try:
        disk.require_dir_writable(ctx.account, link)
        if _exists(link):
            if "-f" not in flags and "--force" not in flags:
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST))
            if link.is_dir() and not link.is_symlink():
                return Completed.err(
                    1, f"ln: {quote_shell(link_name)}: cannot overwrite directory\n"
                )
            link.unlink()
            disk.owners.removed(disk.guest(link))
        if symbolic:
            os.symlink(target, link)
        else:
            source = ctx.host(target)
            disk.require_space()
            os.link(source, link)
        disk.chown(link, ctx.account.uid, ctx.account.gid)
    except OSError as exc:
        kind = "symbolic link" if symbolic else "hard link"
        return Completed.err(
            1, f"ln: failed to create {kind} {quote_shell(link_name)}: {strerror(exc)}\n"
        )
    return Completed()


async def rm(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("rm", args, "rRfdv", ["recursive", "force", "dir"])
    if isinstance(parsed, Completed):
        return parsed
    opts, paths = parsed
    flags = {o for o, _ in opts}
    recursive = bool(flags & {"-r", "-R", "--recursive"})
    force = bool(flags & {"-f", "--force"})
    if not paths and not force:
        return missing_operand("rm")
    disk = ctx.guest.disk
    out = Output()
    for name in paths:
        if recursive and posixpath.normpath(posixpath.join(ctx.cwd, name)) == "/":
            out.error(
                "rm: it is dangerous to operate recursively on '/'\n"
                "rm: use --no-preserve-root to override this failsafe"
            )
            continue
        try:
            host = ctx.host(name, follow_last=False)
            if not _exists(host):
                if not force:
                    out.error(f"rm: cannot remove {quote_shell(name)}: No such file or directory")
                continue
            disk.require_dir_writable(ctx.account, host)
            if host.is_dir() and not host.is_symlink():
                if not recursive:
                    out.error(f"rm: cannot remove {quote_shell(name)}: Is a directory")
                    continue
                shutil.rmtree(host)
            else:
                host.unlink()
            disk.owners.removed(disk.guest(host))
        except OSError as exc:
            out.error(f"rm: cannot remove {quote_shell(name)}: {strerror(exc)}")
    return out.done()


async def readlink(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options(
        "readlink", args, "femnqsvz", ["canonicalize", "canonicalize-existing", "no-newline"]
    )
    if isinstance(parsed, Completed):
        return parsed
    opts, paths = parsed
    if not paths:
        return missing_operand("readlink")
    flags = {o for o, _ in opts}
    mode = next((f for f in ("-f", "-e", "-m") if f in flags), "")
    if "--canonicalize" in flags:
        mode = "-f"
    elif "--canonicalize-existing" in flags:
        mode = "-e"
    out = Output()
    end = "" if "-n" in flags or "--no-newline" in flags else "\n"
    for name in paths:
        try:
            if not mode:
                host = ctx.host(name, follow_last=False)
                out.print(os.readlink(host) + end)
                continue
            host = ctx.host(name)
            parent_ok = host.parent.is_dir()
            if (mode == "-e" and not _exists(host)) or (mode == "-f" and not parent_ok):
                out.rc = 1
                continue
            out.print(ctx.guest.disk.guest(host) + end)
        except OSError:
            out.rc = 1
    return out.done()


async def cat(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("cat", args, "", [])
    if isinstance(parsed, Completed):
        return parsed
    _, files = parsed
    chunks: list[bytes] = []
    out = Output()
    for name in files or ["-"]:
        data = await _read_input(ctx, "cat", name, out)
        if data is not None:
            chunks.append(data)
    done = out.done()
    return Completed(done.rc, b"".join(chunks), done.stderr)


async def ls(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("ls", args, "1aAdt", ["all", "almost-all", "directory"])
    if isinstance(parsed, Completed):
        return parsed
    opts, paths = parsed
    flags = {o for o, _ in opts}
    show_all = bool(flags & {"-a", "--all"})
    almost = bool(flags & {"-A", "--almost-all"})
    out = Output()
    files, dirs = [], []
    for name in paths or ["."]:
        try:
            host = ctx.host(name)
            if not _exists(host):
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
        except OSError as exc:
            out.error(f"ls: cannot access {quote_shell(name)}: {strerror(exc)}", rc=2)
            continue
        if host.is_dir() and not flags & {"-d", "--directory"}:
            dirs.append((name, host))
        else:
            files.append(name)
    for name in sorted(files):
        out.print(name + "\n")
    for index, (name, host) in enumerate(sorted(dirs)):
        if len(dirs) + len(files) > 1:
            out.print(("\n" if index or files else "") + f"{name}:\n")
        try:
            ctx.guest.disk.require(ctx.account, host, R_OK)
        except OSError as exc:
            out.error(f"ls: cannot open directory {quote_shell(name)}: {strerror(exc)}", rc=2)
            continue
        if "-t" in flags:  # newest first, ties by name (coreutils)
            stamped = [(p.lstat().st_mtime_ns, p.name) for p in host.iterdir()]
            entries = [n for _, n in sorted(stamped, key=lambda item: (-item[0], item[1]))]
        else:
            entries = sorted(p.name for p in host.iterdir())
        if show_all:
            entries = [".", "..", *entries]
        elif not almost:
            entries = [e for e in entries if not e.startswith(".")]
        out.print("".join(e + "\n" for e in entries))
    return out.done()


async def install(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options(
        "install", args, "dm:o:g:Dpvc", ["directory", "mode=", "owner=", "group="]
    )
    if isinstance(parsed, Completed):
        return parsed
    opts, paths = parsed
    values = dict(opts)
    directory = "-d" in values or "--directory" in values
    mode_text = values.get("-m", values.get("--mode", "755"))
    mode = parse_mode(mode_text, 0o755, directory)
    if mode is None:
        return Completed.err(1, f"install: invalid mode {quote_locale(mode_text)}\n")
    owner = values.get("-o", values.get("--owner"))
    group = values.get("-g", values.get("--group"))
    accounts = ctx.guest.disk.accounts()
    uid, gid = ctx.account.uid, ctx.account.gid
    if owner is not None:
        account = accounts.user(owner)
        if account is None and not owner.isdigit():
            return Completed.err(1, f"install: invalid user {quote_locale(owner)}\n")
        uid = account.uid if account else int(owner)
    if group is not None:
        if group not in accounts.groups and not group.isdigit():
            return Completed.err(1, f"install: invalid group {quote_locale(group)}\n")
        gid = accounts.groups.get(group, int(group) if group.isdigit() else 0)
    if not paths:
        return missing_operand("install")
    if (owner or group) and not ctx.account.is_root:
        return Completed.err(
            1,
            f"install: cannot change ownership of {quote_locale(paths[-1])}: "
            "Operation not permitted\n",
        )
    out = Output()
    if directory:
        for name in paths:
            scratch = Output()
            if _make_dirs(ctx, name, mode, parents=True, out=scratch):
                host = ctx.host(name)
                host.chmod(mode)
                ctx.guest.disk.chown(host, uid, gid)
            else:
                out.error("".join(scratch.stderr).replace("mkdir:", "install:"))
        return out.done()
    if len(paths) != 2:
        return missing_operand("install")
    return _install_file(ctx, paths[0], paths[1], mode, (uid, gid))


def _install_file(
    ctx: ExecContext, source: str, dest: str, mode: int, owner: tuple[int, int]
) -> Completed:
    disk = ctx.guest.disk
    try:
        src = ctx.host(source)
        data = src.read_bytes()
        dst = ctx.host(dest)
        if dst.is_dir():
            dst = dst / src.name
        disk.require_dir_writable(ctx.account, dst)
        disk.require_space()
        tmp = dst.with_name(f".{dst.name}.install-tmp")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        tmp.replace(dst)
        disk.chown(dst, *owner)
    except OSError as exc:
        return Completed.err(
            1, f"install: cannot create regular file {quote_locale(dest)}: {strerror(exc)}\n"
        )
    return Completed()


__all__ = ["permission_denied"]
