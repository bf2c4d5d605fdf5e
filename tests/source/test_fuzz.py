"""Whatever bytes or YAML come in, validation answers with errors, never an exception."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeport.source.validate import validate_sources

EXAMPLE = sorted((Path(__file__).parents[2] / "manifests").rglob("*.yaml"))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["VM", "App", "Machine", "homeport.dev/v1alpha1", "pve1", "dhcp", "02:00"]),
)
yaml_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "apiVersion",
                    "kind",
                    "metadata",
                    "name",
                    "spec",
                    "machine",
                    "vm",
                    "port",
                    "cores",
                    "network",
                    "env",
                    "source",
                    "repo",
                    "selector",
                    "probe",
                    "x",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        ),
    ),
    max_leaves=25,
)


def _assert_answers(files: list[tuple[str, bytes]]) -> None:
    result = validate_sources(files)
    for error in result.errors:
        assert error.render()
        assert error.line >= 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(raw: bytes) -> None:
    _assert_answers([("fuzz.yaml", raw)])


@settings(max_examples=300, deadline=None)
@given(st.lists(yaml_values, min_size=1, max_size=3))
def test_arbitrary_yaml_documents(documents: list[object]) -> None:
    text = yaml.safe_dump_all(documents, allow_unicode=True)
    _assert_answers([("fuzz.yaml", text.encode())])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_example_manifests(data: st.DataObject) -> None:
    """Flip, drop or insert bytes in the real example estate."""
    path = data.draw(st.sampled_from(EXAMPLE))
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        action = data.draw(st.sampled_from(["flip", "drop", "insert"]))
        if action == "flip" and raw:
            raw[position] = data.draw(st.integers(0, 255))
        elif action == "drop" and raw:
            del raw[position]
        else:
            raw.insert(position, data.draw(st.sampled_from(list(b":-[]{}&*!|>'\"\n #%@`,?"))))
    _assert_answers([(path.name, bytes(raw))])


def test_large_file_is_refused_cleanly() -> None:
    big = b"apiVersion: homeport.dev/v1alpha1\n" + b"# padding\n" * 1_100_000
    result = validate_sources([("big.yaml", big)])
    assert next(e.message for e in result.errors).startswith("file is")


def test_empty_and_comment_only_files_are_fine() -> None:
    result = validate_sources([("a.yaml", b""), ("b.yaml", b"# nothing\n---\n")])
    assert result.ok
    assert result.objects == []
