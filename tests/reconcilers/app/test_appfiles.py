"""The unit file and the EnvironmentFile, read back by the simulator's transcriptions of
systemd's parsers: any value round-trips; nothing a manifest holds becomes a second
directive, a second variable or a second argument."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from homeport.kinds import App
from homeport.reconcilers.appfiles import (
    env_values,
    parse_dotenv,
    render_env,
    render_unit,
    unit_environment,
)
from homeport.reconcilers.errors import PermanentError, TemporaryError
from homeport.simulator.guest.envfile import parse_environment_assignments, parse_environment_file
from homeport.simulator.guest.units import parse_unit

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
# Every character an environment value can hold (a C string of UTF-8: no NUL, no surrogate).
VALUES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIHkZ6l2q0bYz+/7Lw3K0Qv9y5r8qJ6w1n2b3c4d5e6f7\n"
    "-----END PRIVATE KEY-----"
)


def app(**spec: object) -> App:
    body: dict[str, object] = {
        "vm": "web-1",
        "source": {"repo": "https://git.example.com/web.git"},
        "execStart": "/usr/bin/web --port ${PORT}",
        "port": 8080,
    }
    body.update(spec)
    return App.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "App",
            "metadata": {"name": "web"},
            "spec": body,
        }
    )


@given(st.dictionaries(NAMES, VALUES, max_size=6))
@example({"TLS_KEY": PEM, "GREETING": "héllo é", "Q": "\"'`$\\\\\n\r\t \\"})
@example({"TRAILING": "ends with a backslash\\", "SPACES": "  padded  ", "CR": "a\r\nb"})
def test_any_value_round_trips_through_systemds_env_file_parser(values: dict[str, str]) -> None:
    assert parse_environment_file(render_env(values)) == values


def test_the_env_file_is_also_safe_to_source_from_a_shell() -> None:
    text = render_env({"A": '$(touch /tmp/x) `id` "q" \\'}).decode()
    assert text.splitlines()[1] == 'A="\\$(touch /tmp/x) \\`id\\` \\"q\\" \\\\"'


def test_a_nul_or_a_lone_surrogate_is_refused_rather_than_mangled() -> None:
    with pytest.raises(ValueError, match="NUL"):
        render_env({"A": "before\x00after"})
    with pytest.raises(ValueError, match="not valid Unicode"):
        render_env({"A": "\ud800"})


@given(NAMES, st.text(st.characters(blacklist_categories=("Cc", "Cs"))))
@example("HOMEPORT_DATA_DIR", '/srv/x PATH=/tmp "q" \\ 100%n %%')
def test_unit_environment_words_round_trip_through_systemds_word_splitting(
    name: str, value: str
) -> None:
    line = unit_environment(name, value)
    assert parse_environment_assignments([line], "homeport-web.service") == ((name, value),)


def test_unit_environment_refuses_control_characters() -> None:
    with pytest.raises(ValueError, match="control character"):
        unit_environment("A", "one\nExecStartPre=/bin/sh")


def test_the_unit_has_one_environment_variable_per_setting() -> None:
    unit = parse_unit(
        "web.service", "/etc/systemd/system/web.service", render_unit(app(), "x").encode()
    )
    assert dict(unit.environment) == {
        "PORT": "8080",
        "HOST": "x",
        "HOMEPORT_APP": "web",
        "HOMEPORT_DATA_DIR": "/srv/apps/web/data",
    }
    assert unit.user == "app"
    assert unit.exec_start == "/usr/bin/web --port ${PORT}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user", "app\nExecStartPre=/bin/touch /tmp/pwned"),
        ("user", "app; touch /tmp/pwned"),
        ("data_dir", "/srv/data PATH=/tmp"),
        ("exec_start", "/usr/bin/web\nExecStartPre=/bin/touch /tmp/pwned"),
        ("exec_start", "/usr/bin/web \\"),
    ],
)
def test_render_unit_refuses_what_slipped_past_validation(field: str, value: str) -> None:
    """Defence in depth: an App built without validation still never renders a bad unit."""
    good = app()
    spec = good.spec.model_copy(update={field: value})
    with pytest.raises(PermanentError, match="cannot be written safely"):
        render_unit(good.model_copy(update={"spec": spec}), "127.0.0.1")


def test_dotenv_files_are_read_by_python_dotenv_without_interpolation() -> None:
    text = (
        "# comment\n"
        'GREETING="héllo é"\n'
        "export SINGLE='$HOME stays'\n"
        'DOUBLE="${HOME} stays too"\n'
        'PEM="-----BEGIN KEY-----\nabc\n-----END KEY-----"\n'
        "BARE\n"
    )
    assert parse_dotenv(text) == {
        "GREETING": "héllo é",
        "SINGLE": "$HOME stays",
        "DOUBLE": "${HOME} stays too",
        "PEM": "-----BEGIN KEY-----\nabc\n-----END KEY-----",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("BAD-NAME=x\n", "not a valid environment variable name"),
        ('A="nul\\x00"\n'.replace("\\x00", "\x00"), "NUL"),
        ("; an ini-style comment\nA=1\n", "line 1 is not a dotenv statement"),
    ],
)
def test_bad_dotenv_content_is_a_clear_error_naming_the_secret(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "prod.env").write_text(content)
    with pytest.raises(TemporaryError, match=message) as raised:
        env_values(app(envFrom=[{"secret": "web/prod.env"}]), tmp_path, {})
    assert "web/prod.env" in str(raised.value)


def test_a_secret_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "key").write_bytes(b"\xff\xfe latin-1 \xe9")
    with pytest.raises(TemporaryError, match="not UTF-8"):
        env_values(app(secretEnv=[{"name": "KEY", "secret": "web/key"}]), tmp_path, {})
