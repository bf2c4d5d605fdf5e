"""Shared parts of every kind: metadata, references, the spec base and the status model.

The kinds (``machine``, ``vm``, ``app``, ``proxyroute``, ``backuppolicy``,
``standbypair``, ``agent``) build on these; ``homeport.source`` loads YAML into them and
``homeport.controller`` stores their status. Field docstrings are the reference docs.
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from homeport.kinds.textrules import fullmatch_or_raise

API_VERSION = "homeport.dev/v1alpha1"
UNIT_PREFIX = "homeport-"
"""The name prefix of every systemd unit homeport owns (``homeport-<app>.service``)."""

# Annotations homeport understands on any object.
PRUNE_ANNOTATION = "homeport.dev/prune"
ADOPT_ANNOTATION = "homeport.dev/adopt"
ANNOTATION_PREFIX = "homeport.dev/"
ANNOTATIONS: dict[str, tuple[str, ...]] = {
    PRUNE_ANNOTATION: ("disabled", "enabled"),
    ADOPT_ANNOTATION: ("true", "false"),
}
"""Every ``homeport.dev/`` annotation and its allowed values (the first is the one that
changes something). Any other key or value under the prefix is an error, never ignored:
``homeport.dev/prune: "no"`` must not leave the object prunable without a word."""


def annotation_problem(key: str, value: str) -> tuple[str, str] | None:
    """(message, fix) when a ``homeport.dev/`` annotation is unknown or has a wrong value."""
    if not key.startswith(ANNOTATION_PREFIX):
        return None  # other prefixes belong to their owners
    allowed = ANNOTATIONS.get(key)
    if allowed is None:
        guess = difflib.get_close_matches(key, list(ANNOTATIONS), n=1, cutoff=0.6)
        fix = f"did you mean '{guess[0]}'?" if guess else f"use one of: {', '.join(ANNOTATIONS)}"
        return f"unknown annotation {key!r}", fix
    if value not in allowed:
        quoted = ", ".join(f"'{v}'" for v in allowed)
        return f"annotation {key} has value {value!r}, which homeport does not understand", (
            f"use one of: {quoted}"
        )
    return None


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_dns_label(value: str) -> str:
    return fullmatch_or_raise(
        _DNS_LABEL,
        value,
        f"{value!r} is not a DNS label: use 1-63 lowercase letters, digits and '-', "
        "starting and ending with a letter or digit",
    )


def check_hostname(value: str) -> str:
    return fullmatch_or_raise(
        _HOSTNAME,
        value,
        f"{value!r} is not a fully qualified lowercase hostname such as 'app.example.com'",
    )


def check_env_name(value: str) -> str:
    return fullmatch_or_raise(
        _ENV_NAME,
        value,
        f"{value!r} is not a valid environment variable name: use letters, digits and '_', "
        "not starting with a digit",
    )


def check_env_value(value: str) -> str:
    """What an environment can carry: a C string (no NUL) of UTF-8 text (systemd drops the rest)."""
    if "\x00" in value:
        raise ValueError("a NUL character cannot be passed in an environment variable")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the value is not valid Unicode text (a lone surrogate)") from None
    return value


# The validators give fix-oriented messages; WithJsonSchema keeps the patterns in the schemas.
DnsLabel = Annotated[
    str,
    AfterValidator(check_dns_label),
    WithJsonSchema({"type": "string", "pattern": _DNS_LABEL.pattern, "maxLength": 63}),
]
Hostname = Annotated[
    str,
    AfterValidator(check_hostname),
    WithJsonSchema({"type": "string", "pattern": _HOSTNAME.pattern, "maxLength": 253}),
]
EnvName = Annotated[
    str,
    AfterValidator(check_env_name),
    WithJsonSchema({"type": "string", "pattern": _ENV_NAME.pattern}),
]
RefPath = tuple[str | int, ...]
KindName = Literal["Machine", "VM", "App", "ProxyRoute", "BackupPolicy", "StandbyPair", "Agent"]


class KindModel(BaseModel):
    """Base of every manifest model: camelCase in YAML, unknown fields are errors.

    Strict: YAML already types its scalars, so a value of the wrong type is a mistake, not
    something to coerce — `cores: true` is not 1, `onboot: "no"` is not False (a string is
    truthy), `cores: "2"` is not 2. Ints are still accepted where a number is expected.
    """

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        # Off only in the pre-receive hook: see homeport/fielddocs.py.
        # Built at first use, not at import: ``homeport status`` reads a few statuses and
        # validates no manifest. The fields' docstrings are read only by the schema and the
        # reference (``homeport/fielddocs.py``), never by validation.
        defer_build=True,
        frozen=True,
        strict=True,
    )


def reject_bool(value: object) -> object:
    """For integer choices (``Literal[1, 2, 3]``): pydantic matches True as 1, even strictly."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "int_type", "Input should be a valid integer, not a boolean", {"input": value}
        )
    return value


class ObjectMeta(KindModel):
    """Identity and free-form metadata of an object."""

    name: DnsLabel
    """Name of the object, unique per kind; a DNS label (lowercase letters, digits, '-')."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels for selecting objects, e.g. by a BackupPolicy's `selector.matchLabels`."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations; `homeport.dev/prune: disabled` keeps the external object when the manifest is removed, `homeport.dev/adopt: "true"` takes over an existing unowned one. Other `homeport.dev/` keys and values are errors."""


class ObjectRef(KindModel):
    """A reference to another object of the estate."""

    kind: KindName
    """Kind of the referenced object."""
    name: DnsLabel
    """Name of the referenced object."""

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


class SpecBase(KindModel):
    """Fields every kind's spec has."""

    depends_on: list[ObjectRef] = Field(default_factory=list)
    """Objects that must be Ready before this one is reconciled (in addition to implicit references)."""
    suspend: bool = False
    """Pause reconciliation of this object: nothing is changed until it is set back to false."""


ConditionType = Literal[
    "Ready", "Reconciling", "Stalled", "Degraded", "BackupStale", "AuditFinding"
]


class Condition(KindModel):
    """One observation about an object, in the Kubernetes style."""

    # Written by homeport and read back from JSON (timestamps as text), never from git.
    model_config = ConfigDict(strict=False)

    type: ConditionType
    """What the condition is about: Ready, Reconciling, Stalled, Degraded, ..."""
    status: Literal["True", "False", "Unknown"]
    """Whether the condition holds."""
    reason: str
    """A CamelCase machine-readable reason, e.g. `DependencyNotReady`."""
    message: str = ""
    """A human-readable explanation, naming the fix where there is one."""
    last_transition_time: datetime
    """When `status` last changed."""


class ObjectStatus(KindModel):
    """What homeport writes about an object (to its store, never to git)."""

    model_config = ConfigDict(strict=False)

    observed_generation: int = 0
    """The spec generation that the conditions describe."""
    last_applied_revision: str | None = None
    """The git revision whose spec was last fully applied."""
    conditions: list[Condition] = Field(default_factory=list)
    """Current conditions (Ready, Reconciling, Stalled, Degraded, ...)."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Kind-specific observations (e.g. a VM's vmid, node and tailnet address)."""


class Resource(KindModel):
    """Base of the kinds: apiVersion, kind, metadata, spec."""

    kind_name: ClassVar[str] = ""
    plural: ClassVar[str] = ""
    short_names: ClassVar[tuple[str, ...]] = ()

    api_version: Literal["homeport.dev/v1alpha1"]
    """Always `homeport.dev/v1alpha1`."""
    metadata: ObjectMeta
    """Name, labels and annotations."""

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef.model_validate({"kind": self.kind_name, "name": self.metadata.name})

    @property
    def suspended(self) -> bool:
        return bool(getattr(getattr(self, "spec", None), "suspend", False))

    def reference_paths(self) -> list[tuple[RefPath, ObjectRef]]:
        """Objects this one names in its spec, with the manifest path naming each."""
        return []

    def references(self) -> list[ObjectRef]:
        """Objects this one names in its spec (implicit dependencies)."""
        return [ref for _, ref in self.reference_paths()]

    def dependency_paths(self) -> list[tuple[RefPath, ObjectRef]]:
        """Implicit references plus explicit `dependsOn`, with their manifest paths."""
        spec = getattr(self, "spec", None)
        explicit: list[ObjectRef] = list(getattr(spec, "depends_on", []))
        return [
            *self.reference_paths(),
            *((("spec", "dependsOn", i), ref) for i, ref in enumerate(explicit)),
        ]

    def dependencies(self) -> list[ObjectRef]:
        """Implicit references plus explicit `dependsOn`, without duplicates, in order."""
        seen: dict[tuple[str, str], ObjectRef] = {}
        for _, ref in self.dependency_paths():
            seen.setdefault((ref.kind, ref.name), ref)
        return list(seen.values())
