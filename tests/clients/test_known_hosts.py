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
    assert hosts.loaded() == view  # unchanged file: not read again
    assert hosts.pinned("100.64.0.1", 2222) == [first]
    assert matched(hosts, "100.64.0.1", 2222)[0] == [first]

    assert hosts.trust("100.64.0.1", 2222, second, replace=True)
    assert hosts.loaded() != view
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


def test_a_plain_file_is_matched_as_asyncssh_matches_it(tmp_path: Path) -> None:
    """The index that answers for a file of plain lines gives asyncssh the keys its own
    parse of the file would: by name and by address, with the port and then without."""
    path = tmp_path / "known_hosts"
    keys = [key() for _ in range(4)]
    path.write_text(
        f"[100.64.0.1]:2222 {keys[0]}\n"
        f"100.64.0.1 {keys[1]}\n"
        f"[web]:2222,[100.64.0.2]:2222 {keys[2]}\n"
        f"# a comment\n\n"
        f"[100.64.0.2]:2222 {keys[3]}\n"
    )
    hosts = KnownHostsFile(path)
    assert callable(hosts.loaded()) and not isinstance(hosts.loaded(), asyncssh.SSHKnownHosts)
    parsed = asyncssh.import_known_hosts(path.read_text())
    for host, addr, port in [
        ("100.64.0.1", "100.64.0.1", 2222),
        ("100.64.0.1", "100.64.0.1", 22),
        ("100.64.0.1", "100.64.0.1", 2200),  # no entry with this port: the bare name's
        ("web", "100.64.0.2", 2222),
        ("other", "100.64.0.9", 2222),
    ]:
        ours = asyncssh.match_known_hosts(hosts.loaded(), host, addr, port)[0]
        theirs = asyncssh.match_known_hosts(parsed, host, addr, port)[0]
        as_set = {k.export_public_key("openssh") for k in ours}
        assert as_set == {k.export_public_key("openssh") for k in theirs}, (host, port)


def test_a_marker_or_hashed_name_leaves_matching_to_asyncssh(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"|1|c2FsdA==|aGFzaA== {key()}\n")
    assert isinstance(KnownHostsFile(path).loaded(), asyncssh.SSHKnownHosts)
    path.write_text(f"@cert-authority * {key()}\n")
    assert isinstance(KnownHostsFile(path).loaded(), asyncssh.SSHKnownHosts)
