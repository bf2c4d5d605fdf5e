"""YAML syntax errors name the object they are in, read from the text (it does not parse).

The messages themselves are asserted by the broken-manifest corpus (``broken/yaml-*``).
"""

from __future__ import annotations

import tracemalloc

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from homeport.source.yaml_documents import identity_in_text, parse_documents


@pytest.mark.parametrize(
    ("text", "line", "identity"),
    [
        ("kind: VM\nmetadata:\n  name: web\nspec: [\n", 4, ("VM", "web")),
        (
            "kind: VM\nmetadata: {name: web}\n---\nkind: App\nmetadata:\n  name: api\n",
            6,
            ("App", "api"),
        ),
        ("kind: VM\nspec:\n  name: not-the-name\n", 3, ("VM", "")),
        ("a\nb", 10, ("", "")),
        ("", 1, ("", "")),
    ],
)
def test_kind_and_name_are_read_from_text_that_does_not_parse(
    text: str, line: int, identity: tuple[str, str]
) -> None:
    assert identity_in_text(text, line) == identity


@given(
    st.text(alphabet=st.sampled_from(list("kind:metadta \n-{}VMweb#'\"")), max_size=80),
    st.integers(-3, 40),
)
def test_reading_the_identity_never_fails(text: str, line: int) -> None:
    kind, name = identity_in_text(text, line)
    assert kind in text and name in text


def test_a_crowded_document_is_refused_while_streaming_not_after_composing() -> None:
    # 3 MB, under the file limit: composed whole it would hold 1.5 million nodes (~400 MB).
    text = b"kind: VM\nmetadata: {name: web}\nspec: [" + b"1," * 1_500_000 + b"1]\n"
    tracemalloc.start()
    try:
        documents, errors = parse_documents("crowded.yaml", text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert documents == []
    assert [e.render() for e in errors] == [
        "crowded.yaml:3: VM/web: the document has more than 200000 values "
        "(split it into several documents or files)"
    ]
    assert peak < 64 << 20


def test_running_out_of_memory_while_parsing_is_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*_: object, **__: object) -> object:
        raise MemoryError

    monkeypatch.setattr(yaml, "compose_all", exhausted)
    documents, errors = parse_documents("big.yaml", b"kind: VM\n")
    assert documents == []
    assert [e.render() for e in errors] == [
        "big.yaml:1: Unknown/-: not enough memory to parse this file (split it)"
    ]
