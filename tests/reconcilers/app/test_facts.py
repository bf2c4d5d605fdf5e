"""The App's one-round-trip observation: the command list it sends and the pure parser of
its answer (``reconcilers/app/facts.py``), on captured output."""

from __future__ import annotations

import shlex

import pytest

from homeport.reconcilers.app.facts import (
    FactsIncomplete,
    FactsQuery,
    batch_argv,
    facts_argv,
    parse_batch,
    parse_facts,
)
from homeport.reconcilers.appfiles import AppPaths

PATHS = AppPaths.for_name("shop")
UNIT = PATHS.unit_path
ENV = PATHS.env_path
SHA = "b" * 40
T = "f00d"


def answer(*sections: tuple[str, str, bool]) -> bytes:
    """Output as the command list prints it: marker, output, failure marker if it failed."""
    out = ""
    for name, text, ok in sections:
        out += f"### {T} {name}\n{text}" + ("" if ok else f"### {T} {name} failed\n")
    return out.encode()


CONVERGED = answer(
    ("releases", f"{SHA}\n{'c' * 40}\n", True),
    ("current", f"/srv/apps/shop/releases/{SHA}\n", True),
    ("sums", f"{'1' * 64}  {UNIT}\n{'2' * 64}  {ENV}\n", True),
    ("unit-file", "[Unit]\n# managed by homeport: App/shop\n### other 7 words\n", True),
    ("env-mode", "600\n", True),
    ("unit", "ActiveState=active\nLoadState=loaded\nUnitFileState=enabled\n", True),
    ("user", "998\n", True),
    ("data", "750\n", True),
)


def test_the_command_is_one_sh_list_of_every_fact() -> None:
    query = FactsQuery(paths=PATHS, user="shop", packages=("redis-server",))
    argv = facts_argv(query, T)
    assert argv[:2] == ["sh", "-c"] and len(argv) == 3
    script = argv[2]
    for command in (
        ["ls", "-1t", "--", PATHS.releases],
        ["sha256sum", "--", UNIT, ENV],
        ["id", "-u", "--", "shop"],
    ):
        assert f"{shlex.join(command)} || echo '### {T} " in script
    assert "dpkg-query" in script
    # A removed App asks neither for its user nor its data directory.
    removed = facts_argv(FactsQuery(paths=PATHS), T)[2]
    assert "id -u" not in removed and PATHS.data not in removed


def test_converged_output_parses_into_facts() -> None:
    facts = parse_facts(FactsQuery(paths=PATHS, user="shop"), CONVERGED, T)
    assert facts.listing == (SHA, "c" * 40)
    assert facts.current_link == f"/srv/apps/shop/releases/{SHA}"
    assert facts.hashes == {UNIT: "1" * 64, ENV: "2" * 64}
    assert facts.unit_text is not None and b"App/shop" in facts.unit_text
    assert facts.env_mode == 0o600
    assert facts.unit["ActiveState"] == "active"
    assert facts.user_exists and facts.data_exists
    assert facts.packages == {}


def test_failed_commands_read_as_absent() -> None:
    output = answer(
        ("releases", "", False),
        ("current", "", False),
        ("sums", f"{'2' * 64}  {ENV}\n", False),  # the unit file is missing: exit 1
        ("unit-file", "", False),
        ("env-mode", "", False),
        ("unit", "LoadState=not-found\nActiveState=inactive\n", True),
        ("user", "", False),
        ("data", "", False),
    )
    facts = parse_facts(FactsQuery(paths=PATHS, user="shop"), output, T)
    assert facts.listing is None and facts.current_link is None and facts.unit_text is None
    assert facts.hashes == {ENV: "2" * 64}
    assert facts.env_mode is None
    assert not facts.user_exists and not facts.data_exists


def test_a_marker_with_another_token_is_content() -> None:
    forged = CONVERGED.replace(b"### other 7 words", b"### dead releases failed")
    facts = parse_facts(FactsQuery(paths=PATHS, user="shop"), forged, T)
    assert facts.unit_text is not None and b"### dead releases failed" in facts.unit_text
    assert facts.listing == (SHA, "c" * 40)


def test_packages_are_listed_even_when_dpkg_query_exits_1() -> None:
    query = FactsQuery(paths=PATHS, user="shop", packages=("redis-server", "nope"))
    status = "redis-server\t7:7.0.15-1\tinstalled\n"
    facts = parse_facts(query, CONVERGED + answer(("packages", status, False)), T)
    assert facts.packages.get("redis-server")


def test_output_cut_short_is_an_error_not_absent_facts() -> None:
    cut = CONVERGED[: CONVERGED.index(f"### {T} unit\n".encode())]
    with pytest.raises(FactsIncomplete, match="unit"):
        parse_facts(FactsQuery(paths=PATHS, user="shop"), cut, T)


def test_a_file_without_a_final_newline_does_not_hide_the_next_marker() -> None:
    unit = b"[Unit]\n# managed by homeport: App/shop"  # edited by hand, no final newline
    output = CONVERGED.replace(
        b"[Unit]\n# managed by homeport: App/shop\n### other 7 words\n", unit
    )
    facts = parse_facts(FactsQuery(paths=PATHS, user="shop"), output, T)
    assert facts.unit_text == unit
    assert facts.env_mode == 0o600


def test_one_list_asks_the_apps_of_a_vm_each_under_its_own_markers() -> None:
    web = AppPaths.for_name("web")
    queries = {"shop": FactsQuery(paths=PATHS, user="shop"), "web": FactsQuery(paths=web)}
    script = batch_argv(queries, T)[2]
    assert f"### {T} shop:releases" in script and f"### {T} web:unit" in script
    assert shlex.join(["ls", "-1t", "--", web.releases]) in script
    # shop's answer in full, then the list stopped before web's unit.
    shop = CONVERGED.replace(f"### {T} ".encode(), f"### {T} shop:".encode())
    web_part = answer(
        ("releases", "", False),
        ("current", "", False),
        ("sums", "", False),
        ("unit-file", "", False),
        ("env-mode", "", False),
    ).replace(f"### {T} ".encode(), f"### {T} web:".encode())
    found = parse_batch(queries, shop + web_part, T)
    assert found["shop"] == parse_facts(queries["shop"], CONVERGED, T)
    assert isinstance(found["web"], FactsIncomplete) and "unit" in str(found["web"])
