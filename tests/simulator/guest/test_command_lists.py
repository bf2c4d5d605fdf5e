"""A command list (``a ; b``, ``a && b``, ``a || b``) runs as dash runs it: left to right,
``&&`` / ``||`` skip by the last status, the list's status is the last command run's; a
quoted ``;`` is a word, a pipe is still refused. ``echo`` is dash's builtin. And the App's
one-round-trip observation (``reconcilers/app/facts.py``) reads a guest's files through it."""

from __future__ import annotations

import asyncssh

from homeport.reconcilers.app.facts import FactsQuery, facts_argv, parse_facts
from homeport.reconcilers.appfiles import AppPaths
from homeport.simulator.guest.commands import command_list

from .conftest import BootFn, run


def test_command_list_cuts_at_unquoted_connectors_only() -> None:
    assert command_list("a ; b && c || d") == [
        ("", "a "),
        (";", " b "),
        ("&&", " c "),
        ("||", " d"),
    ]
    assert command_list("echo 'x;y' \"a&&b\" c\\;d") == [("", "echo 'x;y' \"a&&b\" c\\;d")]
    assert command_list("ls | wc") == [("", "ls | wc")]


async def test_lists_run_left_to_right_by_status(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        done = await run(conn, "sh", "-c", "echo one ; false || echo two ; true && echo 'three;4'")
        assert (done.exit_status, done.stdout) == (0, "one\ntwo\nthree;4\n")
        skipped = await run(conn, "sh", "-c", "false && echo never ; ls /nope || echo missing")
        assert skipped.stdout == "missing\n"
        assert "No such file" in str(skipped.stderr)
        last = await run(conn, "sh", "-c", "echo -n a ; false")
        assert (last.exit_status, last.stdout) == (1, "a")
        piped = await run(conn, "sh", "-c", "echo a | cat")
        assert piped.exit_status == 2
        dangling = await run(conn, "sh", "-c", "echo a ;")
        assert dangling.exit_status == 2


async def test_app_facts_in_one_exec(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    paths = AppPaths.for_name("web")
    sha = "a" * 40
    async with await guest.connect(client_key) as conn:
        query = FactsQuery(paths=paths, user="web", packages=("redis-server",))
        bare = await run(conn, *facts_argv(query, "t0k3n"))
        facts = parse_facts(query, str(bare.stdout).encode(), "t0k3n")
        assert facts.listing is None and facts.current_link is None
        assert facts.unit_text is None and facts.env_mode is None and facts.hashes == {}
        assert not facts.user_exists and not facts.data_exists
        assert facts.unit.get("LoadState") == "not-found"

        for argv in (
            ["useradd", "--system", "--", "web"],
            ["install", "-d", "-m", "0755", "--", f"{paths.releases}/{sha}"],
            ["install", "-d", "-m", "0750", "--", paths.data],
            ["ln", "-s", f"{paths.releases}/{sha}", paths.current],
            ["install", "-d", "-m", "0755", "--", paths.env_path.rsplit("/", 1)[0]],
            ["install", "-m", "0640", "--", "/etc/hostname", paths.env_path],
        ):
            assert (await run(conn, *argv)).exit_status == 0, argv
        done = await run(conn, *facts_argv(query, "t0k3n"))
        facts = parse_facts(query, str(done.stdout).encode(), "t0k3n")
        assert facts.listing == (sha,)
        assert facts.current_link == f"{paths.releases}/{sha}"
        assert facts.env_mode == 0o640
        assert set(facts.hashes) == {paths.env_path}
        assert facts.user_exists and facts.data_exists
        assert facts.unit_text is None
