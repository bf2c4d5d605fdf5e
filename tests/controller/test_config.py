"""The config: the whole file for what acts (``load_settings``), only ``[store]`` and
``[coordination]`` for a read (``load_read_settings``), with the same errors and the same
relative paths; and importing the module builds no model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from homeport.controller.config import ConfigError, load_read_settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
VALID = """
[store]
path = "data/state.db"
[source]
directory = "manifests"
[coordination]
lease_duration = 20.0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "homeport.toml"
    path.write_text(text)
    return path


def error_of(load: object, path: Path) -> str:
    assert callable(load)
    with pytest.raises(ConfigError) as caught:
        load(path)
    return str(caught.value)


def test_a_read_gets_the_same_store_and_coordination_as_the_full_load(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + '[signatures]\nallowed_signers = "signers"\n')
    read, full = load_read_settings(path), load_settings(path)
    assert read.store == full.store and read.coordination == full.coordination
    assert read.store.path == tmp_path / "data" / "state.db"  # relative to the file
    assert read.coordination.lease_duration == 20.0
    assert full.signatures.allowed_signers == tmp_path / "signers"


def test_a_relative_path_in_coordination_is_resolved_for_a_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        VALID.replace("lease_duration = 20.0", 'backend = "etcd"\nendpoints = ["https://e:2379"]')
        + 'ca_file = "pki/ca.pem"\n',
    )
    read = load_read_settings(path)
    assert read.coordination.ca_file == tmp_path / "pki" / "ca.pem"
    assert read.coordination.lease_duration == 6.0  # the etcd default, as in the full load
    assert read.coordination == load_settings(path).coordination


@pytest.mark.parametrize(
    "broken",
    [
        "[proxmox]\nport = 'eight thousand'\n",  # a section a read does not use
        "[notify]\n[[notify.sinks]]\ntype = 'pigeon'\nname = 'p'\n",
        "[bogus]\nkey = 1\n",  # a section no one knows
        "[signatures]\npolicy = 'tip'\n",  # a rule across sections ([source] repo)
    ],
)
def test_a_mistake_in_a_section_a_read_does_not_use_stops_only_the_full_load(
    tmp_path: Path, broken: str
) -> None:
    path = write(tmp_path, VALID + broken)
    assert error_of(load_settings, path).startswith(f"{path}: [")
    assert load_read_settings(path).store.path == tmp_path / "data" / "state.db"


def test_without_a_source_only_the_full_load_fails(tmp_path: Path) -> None:
    path = write(tmp_path, '[store]\npath = "state.db"\n')
    assert error_of(load_settings, path) == f"{path}: [source] Field required"
    assert load_read_settings(path).store.path == tmp_path / "state.db"


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ('[store]\npth = "x"\n', "[store.pth] Extra inputs are not permitted"),
        ("[store]\npath = 3\n", "[store.path] Input is not a valid path"),
        (
            "store = 'x'\n",
            "[store] Input should be a valid dictionary or instance of StoreSettings",
        ),
        (
            '[coordination]\nbackend = "etcd"\n',
            '[coordination] backend = "etcd" needs endpoints (the members\' client URLs)',
        ),
        ("[coordination]\nlease_duration = -1\n", "[coordination.lease_duration] Input should be"),
    ],
)
def test_a_mistake_in_store_or_coordination_is_reported_by_a_read_as_by_the_full_load(
    tmp_path: Path, broken: str, expected: str
) -> None:
    path = write(tmp_path, broken + '[source]\ndirectory = "manifests"\n')
    read = error_of(load_read_settings, path)
    assert read == error_of(load_settings, path)
    assert read.startswith(f"{path}: {expected}")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such config file"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b"[store\n", "invalid TOML"),
    ],
)
def test_an_unreadable_file_is_reported_by_a_read_as_by_the_full_load(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "homeport.toml"
    if content is not None:
        path.write_bytes(content)
    read = error_of(load_read_settings, path)
    assert read == error_of(load_settings, path)
    assert read.startswith(f"{path}: {expected}")


BUILT = """
import json, sys
from pathlib import Path
import pydantic
from homeport.controller import config

def built():
    return sorted(
        name for name, value in vars(config).items()
        if isinstance(value, type) and issubclass(value, pydantic.BaseModel)
        and value.__module__ == config.__name__ and value.__pydantic_complete__
    )

seen = {"import": built()}
getattr(config, sys.argv[2])(Path(sys.argv[1]))
seen["load"] = built()
print(json.dumps(seen))
"""


def built_by(path: Path, loader: str) -> dict[str, list[str]]:
    ran = subprocess.run(
        [sys.executable, "-c", BUILT, str(path), loader],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(ran.stdout))


def test_importing_builds_no_model_and_a_read_builds_only_its_own(tmp_path: Path) -> None:
    """The models build their validators on first use (``defer_build``): a read pays for
    the two sections it validates (inside ``ReadSettings``), not for the file's 23 models."""
    path = write(tmp_path, VALID)
    assert built_by(path, "load_read_settings") == {"import": [], "load": ["ReadSettings"]}
    full = built_by(path, "load_settings")  # every section's default is built, as before
    assert full["import"] == []
    assert {"Settings", "ProxmoxSettings", "NotifySettings"} <= set(full["load"])
