"""spec.packages: Debian policy's package names and version syntax, each package once;
an apt argument (``name=version``) can never carry a second argument or an option."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from homeport.kinds import App
from homeport.kinds.app import Package, check_debian_version
from homeport.reconcilers.packages import (
    missing_packages,
    not_in_archive,
    parse_dpkg_query,
)


def _app(packages: list[dict[str, Any]]) -> App:
    return App.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "App",
            "metadata": {"name": "shop"},
            "spec": {
                "vm": "web",
                "source": {"repo": "https://git.example.com/shop.git"},
                "execStart": "/usr/bin/shop",
                "port": 8080,
                "packages": packages,
            },
        }
    )


@pytest.mark.parametrize(
    "version",
    [
        "1.0",
        "7.88.1-10+deb12u8",
        "1:2.0-1",
        "7:6.1.1-3ubuntu5",
        "1.0~rc1",
        "2:1.0-1-2",
        "0",
        "1:1:2",
    ],
)
def test_debian_versions_accepted(version: str) -> None:
    assert check_debian_version(version) == version


@pytest.mark.parametrize(
    "version",
    ["", "v1.0", "1.0 beta", "a:1.0", "1:", "1.0-", "1.0_1", "1.0-1_2", "-1", "1.0\n", "2.0:1"],
)
def test_debian_versions_refused(version: str) -> None:
    with pytest.raises(ValueError, match="is not a Debian version"):
        check_debian_version(version)


@pytest.mark.parametrize("name", ["libpq5", "g++", "python3.12-venv", "0ad", "x1"])
def test_debian_package_names_accepted(name: str) -> None:
    assert Package(name=name).name == name


@pytest.mark.parametrize("name", ["", "a", "-y", "LibPQ", "curl=1.0", "two words", "lib_pq", ".x"])
def test_debian_package_names_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="is not a Debian package name"):
        Package(name=name)


def test_a_package_listed_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="'curl' is listed twice"):
        _app([{"name": "curl"}, {"name": "curl", "version": "8.5.0-2ubuntu10"}])
    assert [p.name for p in _app([{"name": "curl"}]).spec.packages] == ["curl"]
    assert _app([]).spec.packages == []


def test_dpkg_query_output_counts_installed_packages_only() -> None:
    text = (
        "curl\t8.5.0-2ubuntu10\tinstalled\n"
        "nginx\t1.24.0-2ubuntu7\tconfig-files\n"
        "libpq5\t16.2-1ubuntu4\thalf-configured\n"
        "garbage line\n"
    )
    assert parse_dpkg_query(text) == {"curl": "8.5.0-2ubuntu10"}


def test_missing_packages_pins_only_what_has_a_version() -> None:
    wanted = [
        Package(name="curl"),
        Package(name="libpq5", version="16.9-0ubuntu0.24.04.1"),
        Package(name="nginx"),
    ]
    installed = {"curl": "8.5.0-2ubuntu10", "libpq5": "16.2-1ubuntu4"}
    assert missing_packages(wanted, installed) == ("libpq5=16.9-0ubuntu0.24.04.1", "nginx")
    assert missing_packages(wanted[:1], installed) == ()


def test_apt_errors_that_only_the_manifest_can_fix() -> None:
    assert not_in_archive("Reading...\nE: Unable to locate package nope\n") == (
        "E: Unable to locate package nope"
    )
    assert not_in_archive("E: Could not get lock /var/lib/dpkg/lock-frontend.\n") is None


def _with_build(build: dict[str, Any]) -> App:
    app = _app([]).model_dump(by_alias=True, exclude_none=True)
    app["spec"]["build"] = build
    return App.model_validate(app)


def test_build_command_is_split_like_words_and_run_without_a_shell() -> None:
    build = _with_build({"command": "python3 -m venv '.venv dir'"}).spec.build
    assert build is not None
    assert build.argv == ["python3", "-m", "venv", ".venv dir"]
    assert build.timeout_seconds == 600


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("make\nrm -rf /", "control character"),
        ("make\tall", "control character"),
        ("  ", "non-empty"),
        ("echo 'unterminated", "unterminated quote"),
        ("npm ci && npm run build", "shell operator '&&'"),
        ("make > log", "shell operator '>'"),
    ],
)
def test_build_commands_refused(command: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _with_build({"command": command})


def test_build_timeout_is_bounded() -> None:
    with pytest.raises(ValidationError):
        _with_build({"command": "make", "timeoutSeconds": 0})
    with pytest.raises(ValidationError):
        _with_build({"command": "make", "timeoutSeconds": 86400})


def test_build_output_tail_is_bounded_and_withholds_secrets() -> None:
    from homeport.reconcilers.app.build import output_tail

    stdout = "".join(f"step {n}\n" for n in range(50))
    token = "ghp_" + "A1b2C3d4" * 5
    tail = output_tail(stdout, f"fetching with {token}\nerror: failed\n")
    lines = tail.splitlines()
    assert len(lines) == 20
    assert lines[0] == "step 32"
    assert lines[-2] == "[line withheld: it holds a GitHub token]"
    assert lines[-1] == "error: failed"
    assert token not in tail
