"""Rules for manifest strings that reach unit files, env files, command lines and URLs.

Used by the kinds (``app.py``, ``vm.py``, ``standbypair.py``) to refuse a bad value at
push time with a message naming the fix, and by ``reconcilers/appfiles.py`` to check
again right before rendering (defence in depth: a value that slipped past validation
never becomes a second directive or a second argument).
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema


def fullmatch_or_raise(pattern: re.Pattern[str], value: str, problem: str) -> str:
    """``value`` when ``pattern`` matches all of it; else ``ValueError(problem)``: the
    shape of every text rule (``fullmatch``: ``$`` also matches before a final newline)."""
    if not pattern.fullmatch(value):
        raise ValueError(problem)
    return value


# Patterns are applied with fullmatch: with match, '$' also matches before a final newline.
# shadow's useradd (NAME_REGEX of Debian/Ubuntu's adduser.conf is the same rule), at most
# 32 characters (LOGIN_NAME_MAX on Linux counts the terminating NUL, utmp's ut_user is 32).
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]*[$]?$")
USER_NAME_MAX = 32
# Each component of a path homeport writes into units, env files and remote shells (rsync)
# uses the POSIX portable filename character set: nothing a shell, systemd's word
# splitting or its specifiers (%) give a meaning to.
_PATH = re.compile(r"^(/[A-Za-z0-9._][A-Za-z0-9._-]*)+$")
# RFC 3986: path-absolute [ "?" query ], pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
# path-absolute never starts with "//" (that would be an authority, another host).
_URL_PATH = re.compile(rf"^/(?!/)(?:{_PCHAR}|/)*(?:\?(?:{_PCHAR}|[/?])*)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The specifiers systemd expands in ExecStart= (systemd.unit(5), "Specifiers").
_SPECIFIERS = frozenset("aAbBCdEfgGhHiIjJlLmMnNopPqsStTuUvVwW%")


def check_user_name(value: str) -> str:
    if len(value) > USER_NAME_MAX or not _USER_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid user name: use at most {USER_NAME_MAX} lowercase "
            "letters, digits, '_' and '-', starting with a letter or '_' (shadow's useradd rule)"
        )
    return value


def check_safe_path(value: str) -> str:
    if not _PATH.fullmatch(value) or posixpath.normpath(value) != value:
        raise ValueError(
            f"{value!r} must be a normalised absolute path whose components use only letters, "
            "digits, '.', '_' and '-' (no whitespace, quotes, '%', '..' or control characters), "
            "e.g. '/srv/apps/web/data'"
        )
    return value


def check_url_path(value: str) -> str:
    return fullmatch_or_raise(
        _URL_PATH,
        value,
        f"{value!r} is not a URL path: start with '/' and percent-encode spaces, control "
        "characters and anything else RFC 3986 does not allow, e.g. '/healthz?full=1'",
    )


def check_one_line(value: str, what: str) -> str:
    """A value written on one line of a unit or a config file: no control character at all."""
    found = _CONTROL.search(value)
    if found:
        raise ValueError(
            f"{what} {value!r} contains the control character {found.group()!r}: "
            "it must be one line of printable text"
        )
    return value


def check_command_line(value: str) -> str:
    """A systemd ``ExecStart=`` line: one line, no continuation, only known specifiers."""
    if not value.strip():
        raise ValueError("execStart must be one non-empty command line")
    check_one_line(value, "execStart")
    if value.rstrip().endswith("\\"):
        raise ValueError(
            "execStart must not end with '\\': systemd would join the next line of the unit to it"
        )
    for specifier in re.finditer(r"%(.?)", value):
        if specifier.group(1) not in _SPECIFIERS:
            raise ValueError(
                f"execStart {value!r} has a '%' that is not a systemd specifier: "
                "write '%%' for a literal '%'"
            )
    return value


UserName = Annotated[
    str,
    AfterValidator(check_user_name),
    WithJsonSchema({"type": "string", "pattern": _USER_NAME.pattern, "maxLength": USER_NAME_MAX}),
]
SafePath = Annotated[
    str,
    AfterValidator(check_safe_path),
    WithJsonSchema({"type": "string", "pattern": _PATH.pattern}),
]
UrlPath = Annotated[
    str,
    AfterValidator(check_url_path),
    WithJsonSchema({"type": "string", "pattern": _URL_PATH.pattern}),
]
