"""Reading YAML files into documents that remember where every value came from.

Hardened for hostile input: size limit, binary detection, alias-expansion (billion laughs)
and recursion limits, duplicate keys. Used by ``manifests.py``; knows nothing of kinds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from homeport.source.errors import ManifestError

MAX_FILE_BYTES = 4 * 1024 * 1024
# A document may not expand (aliases followed) to more nodes than this.
MAX_EXPANDED_NODES = 200_000
MAX_DEPTH = 100

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class YamlDocument:
    """One YAML document of a file: its node tree (for line numbers) and its data."""

    file: str
    index: int
    node: yaml.Node
    data: Any

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    def line_of(self, path: Sequence[str | int]) -> int:
        """1-based line of the value (or key) at ``path``; the closest ancestor if absent."""
        node: yaml.Node = self.node
        line = int(node.start_mark.line) + 1
        for step in path:
            found = _child(node, step)
            if found is None:
                return line
            key_node, node = found
            line = int((key_node or node).start_mark.line) + 1
        return line


def _child(node: yaml.Node, step: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                return key_node, value_node
    if (
        isinstance(node, yaml.SequenceNode)
        and isinstance(step, int)
        and 0 <= step < len(node.value)
    ):
        return None, node.value[step]
    return None


class _Budget:
    """Counts expanded nodes (aliases followed) and rejects cycles and deep nesting."""

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.active: set[int] = set()

    def size(self, node: yaml.Node, depth: int = 0) -> int:
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.active:
            raise _Refused(node, "a YAML alias refers to itself (recursive structure)")
        if depth > MAX_DEPTH:
            raise _Refused(node, f"nesting deeper than {MAX_DEPTH} levels")
        self.active.add(key)
        total = 1
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        for child in children:
            total += self.size(child, depth + 1)
            if total > MAX_EXPANDED_NODES:
                raise _Refused(
                    node,
                    f"the document expands to more than {MAX_EXPANDED_NODES} values "
                    "(YAML alias bomb?)",
                )
        self.active.discard(key)
        self.sizes[key] = total
        return total


class _Refused(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        self.node = node
        self.message = message


def _duplicate_keys(node: yaml.Node, seen: set[int]) -> Iterator[tuple[yaml.Node, str]]:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in keys:
                    yield key_node, key_node.value
                keys.add(key_node.value)
            yield from _duplicate_keys(value_node, seen)
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            yield from _duplicate_keys(child, seen)


def _error(file: str, line: int, message: str, fix: str | None = None) -> ManifestError:
    return ManifestError(file=file, line=line, kind="", name="", message=message, fix=fix)


def decode_text(file: str, raw: bytes) -> tuple[str | None, list[ManifestError]]:
    """Bytes → text, or an error for binary, oversized or non-UTF-8 content."""
    if len(raw) > MAX_FILE_BYTES:
        return None, [
            _error(
                file,
                1,
                f"file is {len(raw) // 1024} KiB, larger than the {MAX_FILE_BYTES // 1024} KiB limit",
                "split it into several manifest files",
            )
        ]
    if b"\x00" in raw[:8192]:
        return None, [_error(file, 1, "binary file, not YAML", "remove it from the manifests")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [_error(file, line, "not valid UTF-8 text", "save the file as UTF-8")]


def parse_documents(file: str, raw: bytes) -> tuple[list[YamlDocument], list[ManifestError]]:
    """Parse every document of a YAML file; errors carry the file and line."""
    text, errors = decode_text(file, raw)
    if text is None:
        return [], errors
    documents: list[YamlDocument] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        return [], [_error(file, line, f"invalid YAML: {problem}", "fix the YAML syntax")]
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        return [], [_error(file, 1, f"invalid YAML: {type(exc).__name__}", "fix the YAML syntax")]
    for index, node in enumerate(nodes):
        if node is None:
            continue
        document, problems = _build_document(file, index, node)
        errors.extend(problems)
        if document is not None:
            documents.append(document)
    return documents, errors


def _build_document(
    file: str, index: int, node: yaml.Node
) -> tuple[YamlDocument | None, list[ManifestError]]:
    try:
        _Budget().size(node)
    except _Refused as refused:
        return None, [
            _error(file, int(refused.node.start_mark.line) + 1, refused.message, "simplify it")
        ]
    duplicates = [
        _error(
            file,
            int(key.start_mark.line) + 1,
            f"duplicate key {name!r}",
            "keep only one; YAML would silently use the last",
        )
        for key, name in _duplicate_keys(node, set())
    ]
    if duplicates:
        return None, duplicates
    try:
        loader = _Loader("")
        data = loader.construct_document(node)
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        line = int(node.start_mark.line) + 1
        if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
            line = int(exc.problem_mark.line) + 1
        detail = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else type(exc).__name__
        return None, [_error(file, line, f"invalid YAML value: {detail}", "fix the YAML")]
    return YamlDocument(file=file, index=index, node=node, data=data), []
