"""``KnownHostsFile``: pinned keys and asyncssh's view of the file are parsed once per
version of the file (one file pins every VM: parsing it on every connection and every VM's
look was an O(estate) cost each), and every change to it, homeport's or an operator's
edit in place, is seen by the next call. Unit tests on a temp file, no sockets."""

from __future__ import annotations

from pathlib import Path

import asyncssh

from homeport.clients.known_hosts import KnownHostsFile, host_pattern


def key() -> str:
    exported = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh")
    return " ".join(exported.decode().split()[:2])


def matched(hosts: KnownHostsFile, address: str, port: int) -> tuple[list[str], list[str]]:
    """(trusted, revoked) keys asyncssh would use for ``address:port``."""
    trusted, _, revoked, *_ = asyncssh.match_known_hosts(hosts.loaded(), address, address, port)
    # Matched by name and by address (the same here): each key once.
    as_text = [" ".join(k.export_public_key("openssh").decode().split()[:2]) for k in trusted]
    gone = [" ".join(k.export_public_key("openssh").decode().split()[:2]) for k in revoked]
    return list(dict.fromkeys(as_text)), list(dict.fromkeys(gone))


def test_parsed_once_per_version_and_every_write_seen(tmp_path: Path) -> None:
    hosts = KnownHostsFile(tmp_path / "known_hosts")
    hosts.ensure()
    first, second = key(), key()
    assert hosts.trust("100.64.0.1", 2222, first)
    view = hosts.loaded()
    assert hosts.loaded() is view  # unchanged file: not parsed again
    assert hosts.pinned("100.64.0.1", 2222) == [first]
    assert matched(hosts, "100.64.0.1", 2222)[0] == [first]

    assert hosts.trust("100.64.0.1", 2222, second, replace=True)
    assert hosts.loaded() is not view
    assert hosts.pinned("100.64.0.1", 2222) == [second]
    assert matched(hosts, "100.64.0.1", 2222)[0] == [second]

    assert hosts.forget("100.64.0.1", 2222)
    assert hosts.pinned("100.64.0.1", 2222) == []
    assert matched(hosts, "100.64.0.1", 2222)[0] == []


def test_an_edit_in_place_by_another_writer_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    hosts = KnownHostsFile(path)
    hosts.ensure()
    pinned = key()
    hosts.trust("100.64.0.2", 2222, pinned)
    assert hosts.pinned("100.64.0.3", 22) == []
    other = key()
    with path.open("a", encoding="utf-8") as handle:  # appended, same inode
        handle.write(f"# added by hand\n{host_pattern('100.64.0.3', 22)},web {other}\n")
        handle.write(f"@revoked * {pinned}\n")
    assert hosts.pinned("100.64.0.3", 22) == [other]
    assert hosts.pinned("web", 22) == [other]
    trusted, revoked = matched(hosts, "100.64.0.2", 2222)
    assert trusted == [pinned] and revoked == [pinned]  # asyncssh refuses a revoked key


def test_a_missing_file_pins_nothing(tmp_path: Path) -> None:
    hosts = KnownHostsFile(tmp_path / "absent")
    assert hosts.pinned("100.64.0.1", 22) == []
    assert matched(hosts, "100.64.0.1", 22) == ([], [])
