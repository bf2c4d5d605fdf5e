"""Label selectors for ``get -l``: kubectl's equality-based syntax.

``a=b`` (or ``a==b``) the label a is b; ``a!=b`` the label a is absent or not b; ``a`` the
label exists; ``!a`` it does not. Requirements are separated by commas and all must hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# A label key as Kubernetes spells it: an optional DNS prefix, then a name.
_KEY = r"(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_REQUIREMENT = re.compile(rf"^(?P<neg>!)?(?P<key>{_KEY})(?:(?P<op>==|!=|=)(?P<value>{_VALUE}))?$")


class SelectorError(ValueError):
    """A selector that does not parse; the message names the requirement and the syntax."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "exists", "!exists"
    value: str = ""

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "=":
            return labels.get(self.key) == self.value
        return labels.get(self.key) != self.value


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def parse_selector(text: str) -> Selector:
    requirements: list[Requirement] = []
    for part in (p.strip() for p in text.split(",")):
        found = _REQUIREMENT.match(part)
        if not part or found is None or (found["neg"] and found["op"]):
            raise SelectorError(
                f"label selector {text!r}: cannot parse {part!r}; write key=value, key!=value,"
                " key or !key, separated by commas (e.g. env=production,tier!=db)"
            )
        if found["op"] is None:
            requirements.append(Requirement(found["key"], "!exists" if found["neg"] else "exists"))
        else:
            op = "!=" if found["op"] == "!=" else "="
            requirements.append(Requirement(found["key"], op, found["value"] or ""))
    return Selector(tuple(requirements))
