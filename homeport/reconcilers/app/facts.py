"""What an App's observation asks its VM, in one SSH round trip: the command and its parser.

``observe.py`` used to ask in about ten operations (``ls``, an SFTP readlink, stat and read,
``sha256sum``, ``systemctl show``, ``id``, ...); each is one exchange over the VM's
connection, and a resync of many Apps spent most of its time waiting on them. Now
``facts_argv`` builds one ``sh -c`` list that runs the same commands, each announced by a
marker line (``### <token> <fact>``) and followed by a failure marker when it exits non-zero;
``parse_facts`` (pure) cuts the output back into ``VmFacts``. The token is drawn anew per
call, so a file printed in the output (the unit file) cannot forge a marker.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from homeport.clients.systemd import SYSTEMCTL, check_unit, parse_show
from homeport.reconcilers.appfiles import AppPaths
from homeport.reconcilers.packages import dpkg_query_argv, parse_dpkg_query
from homeport.reconcilers.service import parse_sha256sums

UNIT_PROPERTIES = ("ActiveState", "SubState", "UnitFileState", "LoadState", "NRestarts")


@dataclass(frozen=True)
class FactsQuery:
    """What to ask: the App's paths, and for a declared App its user and packages."""

    paths: AppPaths
    user: str | None = None
    """The service user whose existence is checked (None: a removed App, not asked)."""
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class VmFacts:
    """The answers, as ``observe.py`` puts them into ``AppObserved``."""

    listing: tuple[str, ...] | None = None
    """``ls -1t`` of the releases directory, newest first (None: no such directory)."""
    current_link: str | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    """SHA-256 of the unit and env files that exist, by path."""
    unit_text: bytes | None = None
    env_mode: int | None = None
    unit: dict[str, str] = field(default_factory=dict)
    """``systemctl show`` properties of the unit."""
    user_exists: bool = True
    data_exists: bool = True
    packages: dict[str, str] = field(default_factory=dict)


def _commands(query: FactsQuery) -> list[tuple[str, list[str]]]:
    paths = query.paths
    commands: list[tuple[str, list[str]]] = [
        ("releases", ["ls", "-1t", "--", paths.releases]),
        ("current", ["readlink", "--", paths.current]),
        ("sums", ["sha256sum", "--", paths.unit_path, paths.env_path]),
        ("unit-file", ["cat", "--", paths.unit_path]),
        ("env-mode", ["stat", "-c", "%a", "--", paths.env_path]),
        (
            "unit",
            [*SYSTEMCTL, "show", check_unit(paths.unit_name), "-p", ",".join(UNIT_PROPERTIES)],
        ),
    ]
    if query.user is not None:
        commands.append(("user", ["id", "-u", "--", query.user]))
        commands.append(("data", ["stat", "-c", "%a", "--", paths.data]))
    if query.packages:
        commands.append(("packages", dpkg_query_argv(list(query.packages))))
    return commands


def facts_argv(query: FactsQuery, token: str) -> list[str]:
    """One ``sh -c`` command list that prints every fact, each after its marker line."""
    return batch_argv({"": query}, token)


def batch_argv(queries: Mapping[str, FactsQuery], token: str) -> list[str]:
    """One ``sh -c`` command list for the Apps of one VM: each App's facts, their markers
    named ``<app>:<fact>`` (``<fact>`` alone for the App named ``""``, ``facts_argv``)."""
    steps = []
    for app, query in queries.items():
        for name, argv in _commands(query):
            mark = f"### {token} {_fact(app, name)}"
            steps.append(
                f"{shlex.join(['echo', mark])} ; {shlex.join(argv)} || "
                f"{shlex.join(['echo', f'{mark} failed'])}"
            )
    return ["sh", "-c", " ; ".join(steps)]


def _fact(app: str, name: str) -> str:
    return f"{app}:{name}" if app else name


def _sections(output: bytes, token: str) -> dict[str, tuple[bytes, bool]]:
    """Fact name → (its output, whether its command succeeded). A marker is found anywhere,
    not only at a line's start: a file printed without a final newline runs into it."""
    marks = list(re.finditer(rb"### " + re.escape(token.encode()) + rb" (\S+)( failed)?\n", output))
    found: dict[str, tuple[bytes, bool]] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        name = mark[1].decode()
        if mark[2]:
            continue  # a failure marker closes the section it names (below)
        stop = following.start() if following is not None else len(output)
        failed = following is not None and following[2] is not None and following[1] == mark[1]
        found[name] = (output[mark.end() : stop], not failed)
    return found


class FactsIncomplete(ValueError):
    """The output lacks a fact's section: the command list did not run to its end."""


def parse_facts(query: FactsQuery, output: bytes, token: str) -> VmFacts:
    """``facts_argv``'s output cut back into facts (pure)."""
    return _facts("", query, _sections(output, token))


def parse_batch(
    queries: Mapping[str, FactsQuery], output: bytes, token: str
) -> dict[str, VmFacts | FactsIncomplete]:
    """``batch_argv``'s output cut back into each App's facts, or why they are not all
    there (the list stopped early: the Apps after that point have no answer)."""
    sections = _sections(output, token)
    found: dict[str, VmFacts | FactsIncomplete] = {}
    for app, query in queries.items():
        try:
            found[app] = _facts(app, query, sections)
        except FactsIncomplete as exc:
            found[app] = exc
    return found


def _facts(app: str, query: FactsQuery, found: dict[str, tuple[bytes, bool]]) -> VmFacts:
    sections = {
        name: found[_fact(app, name)] for name, _ in _commands(query) if _fact(app, name) in found
    }
    missing = [name for name, _ in _commands(query) if name not in sections]
    if missing:
        raise FactsIncomplete(f"no answer for {', '.join(missing)}")

    def text(name: str) -> str | None:
        out, ok = sections[name]
        return out.decode("utf-8", errors="replace") if ok else None

    listing = text("releases")
    link = (text("current") or "").strip()
    mode = (text("env-mode") or "").strip()
    unit_out, unit_ok = sections["unit-file"]
    return VmFacts(
        listing=tuple(listing.splitlines()) if listing is not None else None,
        current_link=link or None,
        hashes=parse_sha256sums(sections["sums"][0].decode("utf-8", errors="replace")),
        unit_text=unit_out if unit_ok else None,
        env_mode=int(mode, 8) if mode.isdigit() else None,
        unit=parse_show(sections["unit"][0].decode("utf-8", errors="replace")),
        user_exists=query.user is None or sections["user"][1],
        data_exists=query.user is None or sections["data"][1],
        # dpkg-query exits 1 when a name is unknown to it; the others are still listed.
        packages=parse_dpkg_query(sections["packages"][0].decode("utf-8", errors="replace"))
        if query.packages
        else {},
    )
