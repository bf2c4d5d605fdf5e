"""The user docs stay true to the code: links resolve, commands exist, the config parses.

Checks ``README.md`` and ``docs/*.md``: every relative link points to an existing file
(and heading, when it names one); every ``homeport <command>`` invoked in a fenced code
block is a command of the CLI, as ``homeport --help`` lists it; the quickstart's
annotated ``homeport.toml`` loads with ``homeport.controller.config`` and shows every key
of every section; the systemd unit matches the daemon it runs.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.controller.config import (
    ControllerSettings,
    NotifyRule,
    Settings,
    SmtpSink,
    TelegramSink,
    WebhookSink,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
# `homeport <word>` where homeport is being run: at the start of a command line (after a
# prompt, a pipe, `&&`, `;`, an env assignment or a path like `.venv/bin/`), or quoted.
INVOCATION = re.compile(
    r"(?:^\s*(?:\$\s+)?|\|\s*|&&\s*|;\s*|`|/bin/|\b[A-Z_]+=\S+\s+)homeport\s+([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?"
)


def _blocks(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(prose lines, [(info string, code)]) of a Markdown page."""
    prose: list[str] = []
    blocks: list[tuple[str, str]] = []
    fence: str | None = None
    info = ""
    code: list[str] = []
    for line in text.splitlines():
        match = FENCE.match(line.strip())
        if fence is None and match:
            fence, info, code = match.group(1), match.group(2).strip(), []
        elif (
            fence is not None and line.strip().startswith(fence) and not line.strip()[len(fence) :]
        ):
            blocks.append((info, "\n".join(code)))
            fence = None
        elif fence is not None:
            code.append(line)
        else:
            prose.append(line)
    return prose, blocks


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to dashes."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def _anchors(page: Path) -> frozenset[str]:
    prose, _ = _blocks(page.read_text())
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for line in prose:
        anchors.update(EXPLICIT_ANCHOR.findall(line))
        match = HEADING.match(line)
        if not match:
            continue
        slug = _slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(anchors)


def _links(page: Path) -> list[str]:
    prose, _ = _blocks(page.read_text())
    found = []
    for line in prose:
        found.extend(LINK.findall(INLINE_CODE.sub("", line)))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files_and_headings(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, file:
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file {destination}")
        elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert not broken, f"{page.name}: broken links:\n" + "\n".join(broken)


def _commands(*group: str) -> set[str]:
    """The commands `homeport [group] --help` lists in its Commands panel."""
    result = CliRunner().invoke(app, [*group, "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    names: set[str] = set()
    in_panel = False
    for line in result.output.splitlines():
        if "Commands" in line and line.lstrip().startswith("╭"):
            in_panel = True
        elif line.lstrip().startswith("╰"):
            in_panel = False
        elif in_panel and (match := re.match(r"^\s*│ (\S+)\s{2,}\S", line)):
            names.add(match.group(1))
    return names


def test_help_lists_the_commands() -> None:
    commands = _commands()
    assert {"run", "status", "get", "describe", "plan", "init", "sim", "estate"} <= commands
    assert {"up", "fault", "check"} <= _commands("sim")


def test_every_homeport_command_in_the_docs_exists() -> None:
    top = _commands()
    groups = {name: _commands(name) for name in ("sim", "estate", "backup")}
    unknown = []
    for page in PAGES:
        _, blocks = _blocks(page.read_text())
        for info, code in blocks:
            if info.split()[:1] == ["text"]:  # program output and logs, not commands
                continue
            for line in code.splitlines():
                for command, sub in INVOCATION.findall(line):
                    if command not in top:
                        unknown.append(f"{page.name}: homeport {command}  ({line.strip()})")
                    elif command in groups and sub and sub not in groups[command]:
                        unknown.append(f"{page.name}: homeport {command} {sub}  ({line.strip()})")
    assert not unknown, "commands the CLI does not have:\n" + "\n".join(unknown)


def _quickstart_config() -> str:
    _, blocks = _blocks((DOCS / "quickstart.md").read_text())
    examples = [code for info, code in blocks if info == "toml" and "[store]" in code]
    assert len(examples) == 1, "the quickstart has one full homeport.toml example"
    return examples[0]


def _uncommented(config: str) -> str:
    """The example with its commented-out settings (`# key = value`, `# [section]`) enabled."""
    setting = re.compile(r"^#\s?((?:\[\[?[a-z_.]+\]\]?)|(?:[a-z_]+\s*=\s*\S.*))$")
    return "\n".join(
        match.group(1) if (match := setting.match(line)) else line for line in config.splitlines()
    )


def test_quickstart_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "homeport.toml"
    path.write_text(_quickstart_config())
    settings = load_settings(path)
    assert settings.source.repo is not None
    path.write_text(_uncommented(_quickstart_config()))
    everything = load_settings(path)
    assert [sink.type for sink in everything.notify.sinks] == ["webhook", "smtp", "telegram"]


def _missing(model: type[BaseModel], table: dict[str, object], where: str) -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sub = table.get(name)
            if not isinstance(sub, dict):
                missing.append(f"[{where}{name}]")
            else:
                missing += _missing(annotation, sub, f"{where}{name}.")
        elif name not in table:
            missing.append(f"{where}{name}")
    return missing


def test_quickstart_config_shows_every_key() -> None:
    raw = tomllib.loads(_uncommented(_quickstart_config()))
    missing = _missing(Settings, raw, "")
    sinks = {sink["type"]: sink for sink in raw["notify"]["sinks"]}
    for kind, model in (("webhook", WebhookSink), ("smtp", SmtpSink), ("telegram", TelegramSink)):
        missing += [f"notify.sinks({kind}).{k}" for k in model.model_fields if k not in sinks[kind]]
    for rule in raw["notify"]["rules"]:
        missing += [f"notify.rules.{k}" for k in NotifyRule.model_fields if k not in rule]
    assert not missing, "keys of config.py missing from the quickstart's example: " + ", ".join(
        missing
    )


def test_systemd_unit_runs_the_daemon_as_documented() -> None:
    unit: dict[str, str] = {}
    for line in (DOCS / "homeport.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            unit[key.strip()] = value.strip()
    assert unit["Type"] == "notify"  # the daemon sends READY=1 (controller/daemon.py)
    assert re.fullmatch(r"\S+/homeport run --config \S+\.toml", unit["ExecStart"])
    assert unit["Restart"] == "on-failure"
    assert float(unit["TimeoutStopSec"]) > ControllerSettings().drain_timeout
    assert unit["CapabilityBoundingSet"] == ""
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} == set(unit["RestrictAddressFamilies"].split())
