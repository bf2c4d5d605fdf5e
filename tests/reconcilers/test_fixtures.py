"""The plan fixtures loader: a case key nobody reads is refused, never skipped silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reconcilers.fixtures import FixtureError, load_cases

CASE = """\
name: web
desired: {{host: shop.example.com, app: shop}}
observed: {{}}
{extra}expect:
  actions: []
  {expect}: true
"""


def write(folder: Path, *, expect: str = "ready", extra: str = "") -> Path:
    (folder / "01-case.yaml").write_text(CASE.format(expect=expect, extra=extra))
    return folder


def test_known_keys_load(tmp_path: Path) -> None:
    [case] = load_cases(write(tmp_path), "ProxyRoute")
    assert case.expect == {"actions": [], "ready": True}


def test_a_misspelled_expect_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match=r"01-case\.yaml: unknown expect key\(s\) raedy"):
        load_cases(write(tmp_path, expect="raedy"), "ProxyRoute")


def test_a_key_the_kind_checks_itself_is_accepted_only_when_declared(tmp_path: Path) -> None:
    write(tmp_path, expect="route")
    with pytest.raises(FixtureError, match="unknown expect key"):
        load_cases(tmp_path, "ProxyRoute")
    assert load_cases(tmp_path, "ProxyRoute", extra_expect=frozenset({"route"}))


def test_an_unknown_case_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FixtureError, match=r"unknown case key\(s\) expected"):
        load_cases(write(tmp_path, extra="expected: {}\n"), "ProxyRoute")
