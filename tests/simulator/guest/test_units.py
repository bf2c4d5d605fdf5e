"""systemd's parsing rules for unit files and EnvironmentFile= (pure, no sockets)."""

from __future__ import annotations

from homeport.simulator.guest.envfile import parse_environment_assignments, parse_environment_file
from homeport.simulator.guest.units import format_timespan, parse_timespan, parse_unit


def test_environment_file_rules() -> None:
    text = (
        "# comment\n"
        "; also a comment\n"
        "PLAIN=value  \n"
        "SPACED = x\n"
        "SINGLE='a b $HOME'\n"
        'DOUBLE="say \\"hi\\" \\n"\n'
        "ESCAPED=a\\ b\n"
        "CONT=one\\\ntwo\n"
        "MULTI='line1\nline2'\n"
        "EMPTY=\n"
        "no equals sign\n"
        "1BAD=x\n"
        "LAST=final"
    )
    assert parse_environment_file(text) == {
        "PLAIN": "value",
        "SPACED": "x",
        "SINGLE": "a b $HOME",
        "DOUBLE": 'say "hi" \\n',
        "ESCAPED": "a b",
        "CONT": "onetwo",
        "MULTI": "line1\nline2",
        "EMPTY": "",
        "LAST": "final",
    }


def test_unit_settings_accumulate_and_reset() -> None:
    unit = parse_unit(
        "web.service",
        "/etc/systemd/system/web.service",
        b"[Service]\nExecStart=/bin/app\nEnvironment=A=1 'B=two words'\nEnvironment=A=3\n"
        b"EnvironmentFile=/x\nEnvironmentFile=\nEnvironmentFile=-/etc/web.env\n"
        b"RestartSec=2min 5s\n[Install]\nWantedBy=multi-user.target graphical.target\n",
    )
    assert unit.environment == (("A", "3"), ("B", "two words"))
    assert unit.environment_files == ("-/etc/web.env",)
    assert unit.restart_sec == 125
    assert unit.wanted_by == ("multi-user.target", "graphical.target")


def test_timespans() -> None:
    assert parse_timespan("100ms") == 0.1
    assert parse_timespan("90") == 90
    assert format_timespan(0.1) == "100ms"
    assert format_timespan(90) == "1min 30s"
    assert format_timespan(float("inf")) == "infinity"


def test_environment_file_follows_systemd_edge_cases() -> None:
    """env-file.c: CR ends a line, a backslash no longer continues a comment (v254),
    trailing key whitespace is stripped, invalid UTF-8 values are dropped, a NUL ends
    the file, unknown escapes in double quotes keep their backslash."""
    text = (
        b"A=one\rB=two\n"
        b"# comment \\\nC=after-comment\n"
        b"KEY  =spaced key\n"
        b"BAD=\xff\xfe\n"
        b'ESC="\\q \\$ \\` \\\\ \\""\n'
        b"MIXED='single'\"double\"bare\n"
        b"\xc3\xa9=not a name\n"
        b"LAST=kept\x00HIDDEN=never"
    )
    assert parse_environment_file(text) == {
        "A": "one",
        "B": "two",
        "C": "after-comment",
        "KEY": "spaced key",
        "ESC": '\\q $ ` \\ "',
        "MIXED": "singledoublebare",
        "LAST": "kept",
    }


def test_environment_lines_follow_systemds_word_splitting() -> None:
    """extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE), then specifiers, per word."""
    assert parse_environment_assignments(
        [
            '"A=two words" B=x\\ty C="q\\"uote" D=%n E=100%%',
            'F=pre"mid dle"post G=\\x41\\101',
            'OK=1 BAD="unbalanced',
            "H=1 I=bad\\escape J=never",
        ],
        "web.service",
    ) == (
        ("A", "two words"),
        ("B", "x\ty"),
        ("C", 'q"uote'),
        ("D", "web.service"),
        ("E", "100%"),
        ("F", "premid dlepost"),
        ("G", "AA"),
        ("OK", "1"),
        ("H", "1"),
    )
