"""systemd's rules for the environment of a service: ``EnvironmentFile=`` and ``Environment=``.

Transcriptions of systemd's own code, so the simulated guest hands an app exactly the values
real systemd would: ``parse_env_file_internal`` (src/basic/env-file.c) for environment files,
and specifier expansion plus ``extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)``
(src/basic/extract-word.c, ``cunescape_one`` in src/basic/escape.c) for ``Environment=``
lines. After either, systemd keeps only valid assignments (``env_assignment_is_valid``:
a name of letters, digits and ``_`` not starting with a digit; a UTF-8 value). Used by
``units.py`` (unit files) and ``systemd.py`` (reads the files at every start).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WHITESPACE = " \t\n\r"
NEWLINE = "\n\r"
COMMENTS = "#;"
SHELL_NEED_ESCAPE = '"\\`$'


class _EnvFileParser:
    """The state machine of ``parse_env_file_internal``, one character at a time.

    ``key_ws``/``value_ws`` are systemd's ``last_key_whitespace``/``last_value_whitespace``:
    where trailing unescaped whitespace starts (None: no trailing whitespace).
    """

    def __init__(self) -> None:
        self.pairs: dict[str, str] = {}
        self.state = "pre_key"
        self.key = ""
        self.value = ""
        self.key_ws: int | None = None
        self.value_ws: int | None = None

    def push(self, *, chomp: bool) -> None:
        key = self.key if self.key_ws is None else self.key[: self.key_ws]
        value = self.value if not chomp or self.value_ws is None else self.value[: self.value_ws]
        if _valid_assignment(key, value):
            self.pairs[key] = value
        self.key = self.value = ""

    def feed(self, c: str) -> None:
        getattr(self, "_" + self.state)(c)

    def _pre_key(self, c: str) -> None:
        if c in COMMENTS:
            self.state = "comment"
        elif c not in WHITESPACE:
            self.state, self.key, self.key_ws = "key", c, None

    def _key(self, c: str) -> None:
        if c in NEWLINE:
            self.state, self.key = "pre_key", ""
        elif c == "=":
            self.state, self.value_ws = "pre_value", None
        else:
            if c not in WHITESPACE:
                self.key_ws = None
            elif self.key_ws is None:
                self.key_ws = len(self.key)
            self.key += c

    def _pre_value(self, c: str) -> None:
        if c in NEWLINE:
            self.push(chomp=False)
            self.state = "pre_key"
        elif c == "'":
            self.state = "single"
        elif c == '"':
            self.state = "double"
        elif c == "\\":
            self.state = "value_escape"
        elif c not in WHITESPACE:
            self.state, self.value = "value", self.value + c

    def _value(self, c: str) -> None:
        if c in NEWLINE:
            self.push(chomp=True)
            self.state = "pre_key"
        elif c == "\\":
            self.state, self.value_ws = "value_escape", None
        else:
            if c not in WHITESPACE:
                self.value_ws = None
            elif self.value_ws is None:
                self.value_ws = len(self.value)
            self.value += c

    def _value_escape(self, c: str) -> None:
        self.state = "value"
        if c not in NEWLINE:  # an escaped newline is eaten up entirely
            self.value += c

    def _single(self, c: str) -> None:
        if c == "'":
            self.state = "pre_value"
        else:
            self.value += c

    def _double(self, c: str) -> None:
        if c == '"':
            self.state = "pre_value"
        elif c == "\\":
            self.state = "double_escape"
        else:
            self.value += c

    def _double_escape(self, c: str) -> None:
        self.state = "double"
        if c in SHELL_NEED_ESCAPE:
            self.value += c
        elif c != "\n":  # a continuation line; any other character keeps its backslash
            self.value += "\\" + c

    def _comment(self, c: str) -> None:
        if c == "\\":
            self.state = "comment_escape"
        elif c in NEWLINE:
            self.state = "pre_key"

    def _comment_escape(self, c: str) -> None:
        # Since v254 a backslash no longer continues a comment onto the next line.
        self.state = "pre_key" if c in NEWLINE else "comment"

    def finish(self) -> dict[str, str]:
        if self.state in (
            "pre_value",
            "value",
            "value_escape",
            "single",
            "double",
            "double_escape",
        ):
            self.push(chomp=self.state == "value")
        return self.pairs


def _valid_assignment(key: str, value: str) -> bool:
    """``env_assignment_is_valid`` and the UTF-8 check of ``load_env_file_push``."""
    return bool(ENV_NAME.fullmatch(key)) and _is_utf8(value)


def _is_utf8(text: str) -> bool:
    """Text decoded with ``surrogateescape`` holds a surrogate where its bytes were not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_environment_file(data: bytes | str) -> dict[str, str]:
    """The assignments systemd reads from an environment file (bytes as on disk)."""
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    parser = _EnvFileParser()
    for c in text.split("\x00", 1)[0]:  # systemd reads a C string: a NUL ends it
        parser.feed(c)
    return parser.finish()


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "s": " ",
}
_NUMERIC_ESCAPES = (
    ("x", re.compile(r"[0-9a-fA-F]{2}"), 16),
    ("u", re.compile(r"[0-9a-fA-F]{4}"), 16),
    ("U", re.compile(r"[0-9a-fA-F]{8}"), 16),
)
_OCTAL = re.compile(r"[0-7]{3}")


def cunescape_one(text: str, at: int) -> tuple[str, int] | None:
    """The character a C escape at ``text[at:]`` (after the backslash) stands for, and its length."""
    c = text[at : at + 1]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], 1
    for letter, digits, base in _NUMERIC_ESCAPES:
        found = digits.match(text, at + 1) if c == letter else None
        if found and 0 < int(found.group(), base) < 0x110000:
            return chr(int(found.group(), base)), 1 + len(found.group())
    found = _OCTAL.match(text, at)
    if found and 0 < int(found.group(), 8) < 256:
        return chr(int(found.group(), 8)), 3
    return None


class InvalidSyntax(ValueError):
    """``extract_first_word`` failed: an unknown escape or unbalanced quotes."""


def extract_words(line: str) -> Iterator[str]:
    """The words of a line by ``extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)``.

    Quotes may open anywhere in a word; a backslash is a C escape inside quotes and out.
    An unknown escape or unbalanced quotes raise :class:`InvalidSyntax` at that word.
    """
    at, n = 0, len(line)
    while True:
        while at < n and line[at] in WHITESPACE:
            at += 1
        if at >= n:
            return
        word, quote = "", ""
        while at < n and (quote or line[at] not in WHITESPACE):
            c = line[at]
            if c == "\\":
                escaped = cunescape_one(line, at + 1)
                if escaped is None:
                    raise InvalidSyntax(line)
                word += escaped[0]
                at += 1 + escaped[1]
                continue
            if quote and c == quote:
                quote = ""
            elif not quote and c in "'\"":
                quote = c
            else:
                word += c
            at += 1
        if quote:
            raise InvalidSyntax(line)
        yield word


def expand_specifiers(value: str, unit_name: str) -> str | None:
    """Specifiers expanded (``%%``, ``%n``, ``%N``, ``%p``); None for one the simulator does
    not know, so the word is skipped as systemd skips one it cannot resolve (homeport's own
    units use only ``%%``)."""
    prefix = unit_name.rsplit(".", 1)[0]
    table = {"%": "%", "n": unit_name, "N": prefix, "p": prefix.split("@", 1)[0]}
    out: list[str] = []
    for part in re.split(r"(%.?)", value):
        if part.startswith("%"):
            if part[1:] not in table:
                return None
            out.append(table[part[1:]])
        else:
            out.append(part)
    return "".join(out)


def parse_environment_assignments(
    values: list[str], unit_name: str = ""
) -> tuple[tuple[str, str], ...]:
    """``Environment=`` lines → ordered pairs, later assignments winning (``config_parse_environ``).

    Each word is unquoted and unescaped, then its specifiers are expanded; a word whose
    specifiers cannot be resolved, or that is not a valid assignment, is skipped; a syntax
    error ignores the rest of its line — each with a warning in systemd's log.
    """
    env: dict[str, str] = {}
    for value in values:
        try:
            for word in extract_words(value):
                resolved = expand_specifiers(word, unit_name)
                name, sep, assigned = (resolved or "").partition("=")
                if sep and _valid_assignment(name, assigned):
                    env[name] = assigned
        except InvalidSyntax:
            continue
    return tuple(env.items())
