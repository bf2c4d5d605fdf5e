"""The benchmark's SSH counting: the App's one-exec observation (an ``sh -c`` list of
reads) is one read; a list with one mutating command in it is a mutation."""

from __future__ import annotations

from bench.converge import ssh_command, ssh_mutates
from homeport.reconcilers.app.facts import FactsQuery, facts_argv
from homeport.reconcilers.appfiles import AppPaths


def test_the_observation_list_is_one_read() -> None:
    argv = facts_argv(FactsQuery(AppPaths.for_name("web"), user="web", packages=("jq",)), "t")
    assert not ssh_mutates("vm", argv)
    assert ssh_command("vm", argv) == "ssh sh -c (a list of 27 commands)"


def test_a_list_with_a_write_in_it_mutates() -> None:
    assert ssh_mutates("vm", ["sh", "-c", "ls /srv ; rm -rf /srv/x || echo failed"])
    assert ssh_mutates("vm", ["rm", "-rf", "/srv/x"])
    assert not ssh_mutates("vm", ["systemctl", "show", "web.service"])


def test_the_audits_reads_are_reads() -> None:
    assert not ssh_mutates("vm", ["ss", "-Hltnup"])
    assert not ssh_mutates("vm", ["sshd", "-T"])
    assert ssh_mutates("vm", ["sshd", "-D"])
