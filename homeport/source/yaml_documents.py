"""Reading YAML files into documents that remember where every value came from.

Hardened for hostile input: size limit, binary detection, alias-expansion (billion laughs)
and recursion limits, duplicate keys. Used by ``manifests.py``; knows nothing of kinds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from homeport.source.errors import ManifestError
from homeport.source.limits import SourceLimits, too_large

# A document may not expand (aliases followed) to more nodes than this.
MAX_EXPANDED_NODES = 200_000
MAX_DEPTH = 100
_VALUE_EVENTS = (
    yaml.ScalarEvent,
    yaml.AliasEvent,
    yaml.MappingStartEvent,
    yaml.SequenceStartEvent,
)


def _first_crowded_document(text: str) -> int | None:
    """The 1-based line where a document exceeds ``MAX_EXPANDED_NODES`` values, found by
    streaming the parser's events: composing first would hold every node in memory (a
    4 MiB flow list of 2 million values costs gigabytes and a minute). Syntax errors raise
    here as they would when composing."""
    count = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.DocumentStartEvent):
            count = 0
        elif isinstance(event, _VALUE_EVENTS):
            count += 1
            if count > MAX_EXPANDED_NODES:
                mark = event.start_mark
                return int(mark.line) + 1 if mark is not None else 1
    return None


_TOO_DEEP = (
    f"nesting deeper than {MAX_DEPTH} levels",
    "flatten it: manifests need only a few levels; look for a bracket or an indentation running away",
)

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


LineTree = int | list[Any]
"""Where a document's values are, kept instead of PyYAML's node tree: a scalar is its
line; a sequence ``[line, [item, ...]]``; a mapping ``[line, {key: [key_line, value]}]``
(the first of equal keys, as a merge key leaves them). Plain lists, dicts and ints: a
node tree is ten times the memory, and this one can be stored as JSON
(``file_cache.py``) and answers ``line_of`` exactly as the nodes would."""


def line_tree(node: yaml.Node, memo: dict[int, LineTree] | None = None) -> LineTree:
    """The lines of ``node`` and all below it; aliased nodes share one subtree."""
    memo = {} if memo is None else memo
    known = memo.get(id(node))
    if known is not None:
        return known
    line = int(node.start_mark.line) + 1
    tree: LineTree = line
    if isinstance(node, yaml.MappingNode):
        children: dict[str, list[Any]] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value not in children:
                key_line = int(key_node.start_mark.line) + 1
                children[key_node.value] = [key_line, line_tree(value_node, memo)]
        tree = [line, children]
    elif isinstance(node, yaml.SequenceNode):
        tree = [line, [line_tree(child, memo) for child in node.value]]
    memo[id(node)] = tree
    return tree


def tree_line(tree: LineTree) -> int:
    return tree if isinstance(tree, int) else int(tree[0])


def _child(tree: LineTree, step: str | int) -> tuple[int, LineTree] | None:
    """(line of the key or item, its subtree) at ``step``; None when there is none."""
    if isinstance(tree, int):
        return None
    children = tree[1]
    if isinstance(children, dict):
        found = children.get(str(step))
        return None if found is None else (found[0], found[1])
    if isinstance(step, int) and 0 <= step < len(children):
        return tree_line(children[step]), children[step]
    return None


@dataclass(frozen=True)
class YamlDocument:
    """One YAML document of a file: where its values are (for line numbers) and its data."""

    file: str
    index: int
    lines: LineTree
    data: Any

    @property
    def line(self) -> int:
        return tree_line(self.lines)

    def line_of(self, path: Sequence[str | int]) -> int:
        """1-based line of the value (or key) at ``path``; the closest ancestor if absent."""
        tree = self.lines
        line = tree_line(tree)
        for step in path:
            found = _child(tree, step)
            if found is None:
                return line
            line, tree = found
        return line


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
            raise _Refused(node, *_TOO_DEEP)
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
    def __init__(self, node: yaml.Node, message: str, fix: str = "simplify it") -> None:
        self.node = node
        self.message = message
        self.fix = fix


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


def decode_text(
    file: str, raw: bytes, max_bytes: int = SourceLimits.max_file_bytes
) -> tuple[str | None, list[ManifestError]]:
    """Bytes → text, or an error for binary, oversized or non-UTF-8 content."""
    if len(raw) > max_bytes:  # readers check sizes before reading; this guards bare bytes
        return None, [_error(file, 1, *too_large(len(raw), max_bytes))]
    if b"\x00" in raw[:8192]:
        return None, [_error(file, 1, "binary file, not YAML", "remove it from the manifests")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [_error(file, line, "not valid UTF-8 text", "save the file as UTF-8")]


def parse_documents(
    file: str, raw: bytes, max_bytes: int = SourceLimits.max_file_bytes
) -> tuple[list[YamlDocument], list[ManifestError]]:
    """Parse every document of a YAML file; errors carry the file, line and, when the text
    shows them, the kind and name of the document they are in."""
    text, errors = decode_text(file, raw, max_bytes)
    if text is None:
        return [], errors
    documents: list[YamlDocument] = []
    try:
        crowded = _first_crowded_document(text)
        if crowded is not None:
            message = f"the document has more than {MAX_EXPANDED_NODES} values"
            fix = "split it into several documents or files"
            return [], [_named(text, _error(file, crowded, message, fix))]
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 1
        column = int(mark.column) if mark is not None else 0
        message, fix = explain_syntax_error(exc.problem or exc.context or "", text, line, column)
        return [], [_named(text, _error(file, line, message, fix))]
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        message, fix = explain_syntax_error(type(exc).__name__, text, 1, 0)
        return [], [_error(file, 1, message, fix)]
    except MemoryError:
        # Within the limits this needs a tight memory limit; still an answer, not a traceback.
        return [], [_error(file, 1, "not enough memory to parse this file", "split it")]
    for index, node in enumerate(nodes):
        if node is None:
            continue
        document, problems = _build_document(file, index, node)
        errors.extend(_named(text, problem) for problem in problems)
        if document is not None:
            documents.append(document)
    return documents, errors


# PyYAML's words → what the author did wrong and what to do; the problem text is kept.
_SYNTAX_HINTS: tuple[tuple[str, str], ...] = (
    ("mapping values are not allowed", "quote a value containing ': ', or align the key"),
    ("could not find expected ':'", "write 'key: value', or quote a value that spans lines"),
    ("did not find expected key", "align the key with the keys above it"),
    ("did not find expected '-'", "align the list item with the items above it"),
    ("expected <block end>", "align this line with its siblings"),
    ("found undefined alias", "define the anchor (&name) before using the alias (*name)"),
    ("found unexpected end of stream", "close the quote or bracket opened above"),
    ("unclosed", "close the quote or bracket opened above"),
)


def explain_syntax_error(problem: str, text: str, line: int, column: int) -> tuple[str, str]:
    """(message, fix) for a YAML syntax error at 1-based ``line``, 0-based ``column``."""
    lines = text.splitlines()
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    indent = source[: len(source) - len(source.lstrip(" \t"))]
    if "\t" in indent or source[column : column + 1] == "\t" or "tab" in problem:
        return (
            "a tab character is used for indentation",
            "YAML indents with spaces only: replace the tab with spaces",
        )
    if "nesting depth" in problem or problem == "RecursionError":
        return _TOO_DEEP
    for words, fix in _SYNTAX_HINTS:
        if words in problem:
            return f"invalid YAML: {problem}", fix
    return f"invalid YAML: {problem or 'unreadable'}", "fix the YAML syntax at this line"


_KIND_LINE = re.compile(r"^kind:\s*[\"']?([A-Za-z]+)[\"']?\s*(?:#.*)?$")
_NAME_INLINE = re.compile(r"^metadata:\s*\{.*?\bname:\s*[\"']?([a-z0-9][-a-z0-9]*)")
_NAME_LINE = re.compile(r"^\s+name:\s*[\"']?([a-z0-9][-a-z0-9]*)[\"']?\s*(?:#.*)?$")


def identity_in_text(text: str, line: int) -> tuple[str, str]:
    """(kind, name) of the document holding 1-based ``line``, as far as its text shows,
    read without parsing (the point is to name a document that does not parse)."""
    lines = text.splitlines()
    start = max(0, min(line, len(lines)) - 1)  # a mark may sit just past the last line
    while start > 0 and not lines[start - 1].startswith("---"):
        start -= 1
    end = start + 1
    while end < len(lines) and not lines[end].startswith("---"):
        end += 1
    kind = name = ""
    in_metadata = False
    for candidate in lines[start:end]:
        found = _KIND_LINE.match(candidate)
        kind = found.group(1) if found and not kind else kind
        inline = _NAME_INLINE.match(candidate)
        if inline and not name:
            name = inline.group(1)
        if candidate.startswith("metadata:"):
            in_metadata = True
        elif candidate[:1] not in (" ", "", "#"):
            in_metadata = False
        nested = _NAME_LINE.match(candidate) if in_metadata else None
        if nested and not name:
            name = nested.group(1)
    return kind, name


def _named(text: str, error: ManifestError) -> ManifestError:
    if error.kind or error.name:
        return error
    kind, name = identity_in_text(text, error.line)
    return replace(error, kind=kind, name=name)


def _build_document(
    file: str, index: int, node: yaml.Node
) -> tuple[YamlDocument | None, list[ManifestError]]:
    try:
        _Budget().size(node)
    except _Refused as refused:
        return None, [
            _error(file, int(refused.node.start_mark.line) + 1, refused.message, refused.fix)
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
    # After construction: merge keys (<<) have been flattened into the mapping nodes.
    return YamlDocument(file=file, index=index, lines=line_tree(node), data=data), []
