"""A document's tree of lines answers ``line_of`` exactly as PyYAML's node tree did.

The reference below is the node walk ``YamlDocument.line_of`` used before documents kept
lines instead of nodes (``yaml_documents.LineTree``); the trees are also what the
pre-receive hook's cache stores, so the same answers must come back from JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from homeport.source.yaml_documents import YamlDocument, line_tree, parse_documents
from tests.source.test_fuzz import yaml_values

Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def node_line_of(node: yaml.Node, path: Sequence[str | int]) -> int:
    """The node walk of old, on a node tree after construction (merge keys flattened)."""
    line = int(node.start_mark.line) + 1
    for step in path:
        found: tuple[yaml.Node | None, yaml.Node] | None = None
        if isinstance(node, yaml.MappingNode):
            found = next(
                (
                    (k, v)
                    for k, v in node.value
                    if isinstance(k, yaml.ScalarNode) and k.value == str(step)
                ),
                None,
            )
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            found = (None, node.value[step]) if 0 <= step < len(node.value) else None
        if found is None:
            return line
        key, node = found
        line = int((key or node).start_mark.line) + 1
    return line


def paths(data: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every path in ``data``, and beside each some that lead nowhere."""
    yield prefix
    yield (*prefix, "missing")
    yield (*prefix, 0)
    yield (*prefix, 7)
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths(value, (*prefix, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from paths(value, (*prefix, index))


def assert_same_lines(text: str) -> None:
    documents, _ = parse_documents("a.yaml", text.encode())
    nodes = [n for n in yaml.compose_all(text, Loader=Loader) if n is not None]
    for document in documents:
        node = nodes[document.index]
        Loader("").construct_document(node)  # flattens merge keys, as parsing did
        # Through JSON too: what the hook's cache gives back must answer the same.
        lines = json.loads(json.dumps(document.lines))
        stored = YamlDocument(document.file, document.index, lines, document.data)
        for path in paths(document.data):
            expected = node_line_of(node, path)
            assert document.line_of(path) == expected, (path, text)
            assert stored.line_of(path) == expected, (path, text)
        assert document.line == stored.line == int(node.start_mark.line) + 1


@settings(max_examples=150, deadline=None)
@given(
    documents=st.lists(yaml_values, min_size=1, max_size=3),
    flow=st.sampled_from([True, False, None]),
)
def test_lines_match_the_node_walk(documents: list[Any], flow: bool | None) -> None:
    text = yaml.safe_dump_all(documents, default_flow_style=flow)
    assert_same_lines(text)


def test_aliases_merge_keys_and_their_overrides() -> None:
    """A merge key's pairs come first in the flattened mapping: the first of equal keys
    (the merged one) is where the node walk pointed, and so does the tree."""
    assert_same_lines(
        """base: &base
  cores: 1
  memoryMiB: 512
spec:
  <<: *base
  cores: 2
  disk: {sizeGiB: 8}
list: &l [1, {a: 2}]
again: *l
---
- &x {k: [1, 2]}
- *x
- {<<: [*x, {m: 3}], n: 4}
"""
    )


def test_keys_that_are_numbers_or_not_scalars() -> None:
    assert_same_lines("1: one\n? [a, b]\n: two\ntrue: yes\n'0': zero\n")


def test_aliased_subtrees_are_shared_not_copied() -> None:
    node = yaml.compose("a: &x {b: [1, 2]}\nc: *x\n", Loader=Loader)
    tree = line_tree(node)
    assert isinstance(tree, list)
    assert tree[1]["a"][1] is tree[1]["c"][1]
