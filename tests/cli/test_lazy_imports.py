"""Each command imports what it uses: the read commands and ``--version`` load neither the
simulator, aiohttp nor the reconcilers; ``homeport run`` loads the daemon but never the
simulator or aiohttp (the simulator's server library is the ``homeport[sim]`` extra).

Every probe runs the real ``homeport`` entry point in a fresh interpreter and reads its
``sys.modules`` when the command has finished.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.test_read_cli import config

__all__ = ["config"]  # the fixture: a store with the example estate, no daemon

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
args, out, blocked = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
for name in blocked:
    sys.modules[name] = None  # importing it raises ModuleNotFoundError: not installed
from homeport.cli.main import main
sys.argv = ["homeport", *args]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
config = sys.modules.get("homeport.controller.config")
built = sorted(  # the config's models whose validators were built
    name for name, value in vars(config or object).items()
    if isinstance(value, type) and getattr(value, "__module__", "") == config.__name__
    and getattr(value, "__pydantic_complete__", False)
)
with open(out, "w") as f:
    json.dump({"exit": code, "modules": sorted(sys.modules), "built": built}, f)
"""
SIMULATOR_SIDE = ("homeport.simulator", "aiohttp")
# The names of the durable memory slots others read (no code of any reconciler).
NOT_A_RECONCILER = {"homeport.reconcilers", "homeport.reconcilers.slots"}
# The kinds' shared parts (the status models) and their names: no kind's model.
LIGHT_KINDS = {
    "homeport.kinds",
    "homeport.kinds.common",
    "homeport.kinds.names",
    "homeport.kinds.textrules",
}


@dataclass(frozen=True)
class Probe:
    exit: int
    modules: set[str]
    stdout: str
    stderr: str
    built: list[str]
    """The config's models (``controller/config.py``) whose validators were built."""


def probe(tmp_path: Path, *args: str, uninstalled: tuple[str, ...] = ()) -> Probe:
    """``homeport ARGS`` in a fresh interpreter, as if ``uninstalled`` were not installed."""
    out = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    ran = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), str(out), json.dumps(uninstalled)],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads(out.read_text())
    return Probe(result["exit"], set(result["modules"]), ran.stdout, ran.stderr, result["built"])


def loaded(modules: set[str], *packages: str) -> list[str]:
    return sorted(
        m for m in modules if m in packages or m.startswith(tuple(f"{p}." for p in packages))
    )


def reconcilers(modules: set[str]) -> list[str]:
    return [m for m in loaded(modules, "homeport.reconcilers") if m not in NOT_A_RECONCILER]


@pytest.mark.parametrize("args", [["status"], ["get", "vms"], ["describe", "vm", "shop-a"]])
def test_read_commands_import_no_simulator_aiohttp_or_reconciler(
    tmp_path: Path, config: Path, args: list[str]
) -> None:
    ran = probe(tmp_path, *args, "--config", str(config))
    assert ran.exit == 0
    assert "homeport.cli.read_cmd" in ran.modules  # the command did run
    assert loaded(ran.modules, *SIMULATOR_SIDE) == []
    assert reconcilers(ran.modules) == []
    # Nor the clients of the real world: a read is a read of the store. Nor what adopting
    # a revision needs (sources, validation, the watcher): the store holds the answer.
    assert loaded(ran.modules, "homeport.clients", "asyncssh", "proxmoxer") == []
    assert loaded(ran.modules, "homeport.controller.revisions", "homeport.source.validate") == []
    assert loaded(ran.modules, "watchfiles") == []


@pytest.mark.parametrize("args", [["status"], ["get", "vms"], ["get", "all", "-o", "json"]])
def test_status_and_get_build_no_manifest_model(
    tmp_path: Path, config: Path, args: list[str]
) -> None:
    """They read statuses and names from the store: no kind's model is built (the names
    come from ``kinds/names.py``), and neither YAML, asyncio nor the git side is loaded."""
    ran = probe(tmp_path, *args, "--config", str(config))
    assert ran.exit == 0
    assert "homeport.controller.store.objects" in ran.modules  # the store was read
    assert [m for m in loaded(ran.modules, "homeport.kinds") if m not in LIGHT_KINDS] == []
    assert loaded(ran.modules, "yaml", "asyncio", "homeport.source") == []


# sqlite-utils and what it brings (its plugin machinery, dateutil, click); typer has its
# own copy of click (``typer._click``).
STORE_WRITER_SIDE = ("sqlite_utils", "click", "pluggy", "dateutil")


@pytest.mark.parametrize(
    "args", [["status"], ["get", "vms"], ["get", "all", "-o", "json"], ["events"]]
)
def test_reads_load_no_sqlite_utils_and_validate_only_their_sections(
    tmp_path: Path, config: Path, args: list[str]
) -> None:
    """A read-only store is a plain sqlite3 connection (sqlite-utils is the daemon's, for
    the schema); the config's other sections are neither validated nor built."""
    ran = probe(tmp_path, *args, "--config", str(config))
    assert ran.exit == 0
    assert "homeport.controller.store.objects" in ran.modules  # the store was read
    assert loaded(ran.modules, *STORE_WRITER_SIDE) == []
    # [store] and [coordination] only (a section the file leaves out is built as default)
    assert "ReadSettings" in ran.built
    assert set(ran.built) <= {"ReadSettings", "StoreSettings", "CoordinationSettings"}


def test_run_builds_the_whole_config(tmp_path: Path) -> None:
    """What acts validates every section: the probe sees the models a read leaves alone."""
    path = tmp_path / "homeport.toml"
    path.write_text('[source]\ndirectory = "missing"\n[proxmox]\nport = "x"\n')
    ran = probe(tmp_path, "run", "--config", str(path))
    assert ran.exit == 2 and "[proxmox.port]" in ran.stderr
    assert "Settings" in ran.built and "ReadSettings" not in ran.built


def test_version_imports_no_command(tmp_path: Path) -> None:
    ran = probe(tmp_path, "--version")
    assert ran.exit == 0
    assert loaded(ran.modules, "homeport.cli") == [
        "homeport.cli",
        "homeport.cli.helpfmt",
        "homeport.cli.lazy",
        "homeport.cli.main",
    ]
    daemon_side = ("homeport.reconcilers", "homeport.controller", "homeport.services")
    assert loaded(ran.modules, *SIMULATOR_SIDE, *daemon_side) == []


def test_run_loads_the_daemon_without_the_simulator_or_aiohttp(tmp_path: Path) -> None:
    """Everything ``homeport run`` imports is imported at module level (the controller
    imports nothing inside functions), so stopping at its config check is enough."""
    ran = probe(tmp_path, "run", "--config", str(tmp_path / "missing.toml"))
    assert ran.exit == 2  # no such config file
    assert {"homeport.controller.daemon", "homeport.controller.wiring"} <= ran.modules
    assert "homeport.reconcilers.standbypair" in ran.modules  # the daemon's reconcilers: all
    assert loaded(ran.modules, *SIMULATOR_SIDE) == []
    # Exporters load when [telemetry] asks for them (at build_providers), not at start.
    exporters = ("opentelemetry.exporter", "prometheus_client", "google.protobuf")
    assert loaded(ran.modules, *exporters) == []


def test_the_probe_sees_the_simulator_where_it_is_used(tmp_path: Path) -> None:
    """``demo`` runs on the simulator: its help alone loads it (the probe can see it)."""
    ran = probe(tmp_path, "demo", "--help")
    assert ran.exit == 0
    assert "homeport.simulator.estate" in ran.modules and "aiohttp" in ran.modules


def test_without_the_sim_extra_sim_and_demo_say_what_to_install(tmp_path: Path) -> None:
    """A production install (no ``homeport[sim]``): the help lists every command, the
    simulator's commands answer with the fix in one line, exit 2, no traceback."""
    listed = probe(tmp_path, "--help", uninstalled=("aiohttp",))
    assert listed.exit == 0
    assert "homeport[sim]" in listed.stdout and "validate" in listed.stdout
    for args in (["sim", "up", "--state", str(tmp_path)], ["demo", "--ci"]):
        ran = probe(tmp_path, *args, uninstalled=("aiohttp",))
        assert ran.exit == 2, ran.stderr
        assert ran.stderr.splitlines() == [
            f"error: homeport {args[0]} needs the 'sim' extra (aiohttp is not installed): "
            "pip install 'homeport[sim]'"
        ]


def test_without_the_sim_extra_the_daemon_and_reads_run(tmp_path: Path, config: Path) -> None:
    ran = probe(tmp_path, "get", "vms", "--config", str(config), uninstalled=("aiohttp",))
    assert ran.exit == 0 and "shop-a" in ran.stdout
    ran = probe(
        tmp_path, "run", "--config", str(tmp_path / "missing.toml"), uninstalled=("aiohttp",)
    )
    assert ran.exit == 2 and "no such config file" in ran.stderr


def test_help_lists_every_command_without_importing_any(tmp_path: Path) -> None:
    """The one-line helps come from a table (tests/cli/test_help_table.py keeps it true)."""
    ran = probe(tmp_path, "--help")
    assert ran.exit == 0
    assert "failover" in ran.stdout and "Swap a pair's primary and standby now." in ran.stdout
    assert [m for m in loaded(ran.modules, "homeport.cli") if m.endswith(("_cmd", "demo"))] == []
    assert (
        loaded(
            ran.modules,
            *SIMULATOR_SIDE,
            "homeport.controller",
            "homeport.services",
            "homeport.kinds",
        )
        == []
    )


def test_a_mistyped_command_is_suggested_without_importing_any(tmp_path: Path) -> None:
    ran = probe(tmp_path, "statsu")
    assert ran.exit == 2
    assert "Did you mean 'status'" in ran.stderr
    assert [m for m in loaded(ran.modules, "homeport.cli") if m.endswith(("_cmd", "demo"))] == []
