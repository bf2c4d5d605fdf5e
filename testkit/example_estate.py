"""The example estate in ``manifests/``, counted independently of homeport's validator.

Tests of the commands that summarise the estate (``validate``, ``status``, ``get all``, the
demo's push) compare their figures with these, read with plain PyYAML: adding an example
to ``manifests/`` then changes no test, while a command that miscounts still fails.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

MANIFESTS = Path(__file__).parents[1] / "manifests"


@dataclass(frozen=True)
class ExampleEstate:
    files: int
    kinds: Counter[str]
    names: dict[str, list[str]]

    @property
    def objects(self) -> int:
        return sum(self.kinds.values())


def example_estate(root: Path = MANIFESTS) -> ExampleEstate:
    files = sorted(root.rglob("*.yaml"))
    kinds: Counter[str] = Counter()
    names: dict[str, list[str]] = {}
    for path in files:
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and "kind" in document:
                kinds[document["kind"]] += 1
                names.setdefault(document["kind"], []).append(document["metadata"]["name"])
    return ExampleEstate(len(files), kinds, {k: sorted(v) for k, v in names.items()})
