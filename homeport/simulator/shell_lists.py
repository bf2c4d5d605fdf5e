"""The simulated shell's command lists: a line cut at its unquoted ``;``, ``&&`` and ``||``.

The guest's shell runs them (``guest/commands``); the benchmark's driver reads them to
count what one ``sh -c`` exec asked for. A module of its own, free of the guest's servers,
so that reading a list does not load them.
"""

from __future__ import annotations


def command_list(line: str) -> list[tuple[str, str]]:
    """``line`` cut at its unquoted ``;``, ``&&`` and ``||``: (connector, command) pairs,
    the first with connector ``""``. A lone ``|`` or ``&`` stays in its command (refused
    there as shell syntax)."""
    parts: list[tuple[str, str]] = []
    connector, start, quote, escaped, i = "", 0, None, False, 0
    while i < len(line):
        char = line[i]
        if escaped:
            escaped = False
        elif quote is not None:
            quote = None if char == quote else quote
            escaped = char == "\\" and quote == '"'
        elif char == "\\":
            escaped = True
        elif char in "'\"":
            quote = char
        elif char == ";" or line.startswith(("&&", "||"), i):
            parts.append((connector, line[start:i]))
            connector = ";" if char == ";" else line[i : i + 2]
            i += len(connector)
            start = i
            continue
        i += 1
    parts.append((connector, line[start:]))
    return parts
