"""Each kind's names — what ``homeport get`` and shell completion accept — without its model.

``homeport get vms`` needs to know that ``vms`` means ``VM`` and nothing else of the VM
model; importing the models costs a read command about a fifth of its start-up. The
models carry the same names (``kind_name``, ``plural``, ``short_names``);
``tests/kinds/test_names.py`` keeps this table equal to them, in ``KIND_MODELS``'s order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindNames:
    kind: str
    plural: str
    short_names: tuple[str, ...]

    def words(self) -> set[str]:
        """Every spelling of the kind, lowercase: ``{"vm", "vms"}``."""
        return {self.kind.lower(), self.plural, *self.short_names}


NAMES: tuple[KindNames, ...] = (
    KindNames("Machine", "machines", ("machine", "mc")),
    KindNames("VM", "vms", ("vm",)),
    KindNames("App", "apps", ("app",)),
    KindNames("StandbyPair", "standbypairs", ("standbypair", "pair", "sp")),
    KindNames("ProxyRoute", "proxyroutes", ("proxyroute", "route", "pr")),
    KindNames("BackupPolicy", "backuppolicies", ("backuppolicy", "backup", "bp")),
    KindNames("Agent", "agents", ("agent",)),
)
KIND_NAMES: tuple[str, ...] = tuple(names.kind for names in NAMES)


def lookup_kind_name(text: str) -> str | None:
    """The kind a name, plural or short name means, case-insensitively (`vms` → `VM`); a
    short name takes a plural too (`routes`, `pairs`), as people type it."""
    wanted = text.lower()
    for names in NAMES:
        words = names.words()
        if wanted in words or (wanted.endswith("s") and wanted[:-1] in words):
            return names.kind
    return None
