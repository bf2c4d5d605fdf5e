"""Adopting a revision reads each stored row's ``spec_hash``, not the parsed rows: a push
of one changed file into a large estate parses no stored manifest or status, and the
generations and the created / changed / removed sets stay what they were."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from homeport.controller.clock import FakeClock
from homeport.controller.store import DesiredObject, Store
from homeport.controller.store import objects as objects_module
from homeport.controller.store.objects import canonical_manifest
from homeport.kinds import KINDS, ObjectStatus
from homeport.source.validate import ValidationResult, validate_paths, validate_sources
from tests.controller.test_engine import MACHINE
from tests.controller.test_engine_scale import vm
from tests.source.estates import as_files, estates


def desired(text: str) -> list[DesiredObject]:
    result = validate_sources([("estate.yaml", text.encode())])
    assert result.ok, [e.render() for e in result.errors]
    return [DesiredObject(o.resource, o.file, o.line) for o in result.objects]


def test_a_revision_parses_no_stored_row_and_bumps_only_what_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = Store.open(tmp_path / "state.db"), FakeClock()
    objects = store.objects
    created, changed, removed = objects.apply_revision(
        "r1", desired(MACHINE + vm("a") + vm("b") + vm("c")), clock.now()
    )
    assert (len(created), changed, removed) == (4, set(), set())
    parsed: list[str] = []
    parse = objects_module._row_to_object
    monkeypatch.setattr(
        objects_module, "_row_to_object", lambda row: parsed.append(row["name"]) or parse(row)
    )
    created, changed, removed = objects.apply_revision(
        "r2", desired(MACHINE + vm("a", memory=512) + vm("b")), clock.now()
    )
    assert (created, changed, removed) == (set(), {("VM", "a")}, {("VM", "c")})
    assert parsed == []  # nothing parsed; a removal with no replica shares nothing
    monkeypatch.setattr(objects_module, "_row_to_object", parse)
    generations = {o.name: (o.generation, o.revision, o.deleting) for o in objects.all()}
    assert generations == {
        "m1": (1, "r2", False),
        "a": (2, "r2", False),
        "b": (1, "r2", False),
        "c": (1, "r1", True),
    }
    # Back in git: no longer deleting, a new generation; an unchanged revision bumps nothing.
    _, changed, _ = objects.apply_revision(
        "r3", desired(MACHINE + vm("a", memory=512) + vm("b") + vm("c")), clock.now()
    )
    assert changed == {("VM", "c")}
    _, changed, _ = objects.apply_revision(
        "r4", desired(MACHINE + vm("a", memory=512) + vm("b") + vm("c")), clock.now()
    )
    assert changed == set()
    assert {o.name: o.generation for o in objects.all()} == {"m1": 1, "a": 2, "b": 1, "c": 2}
    store.close()


def test_a_stored_manifest_is_validated_once_per_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The estate's indexes read every object's model every window: a manifest is
    validated when it is first read and again only once a revision changed it."""
    store, clock = Store.open(tmp_path / "state.db"), FakeClock()
    objects = store.objects
    objects.apply_revision("r1", desired(MACHINE + vm("a") + vm("b")), clock.now())
    first = {o.name: o.resource() for o in objects.all()}
    validated: list[str] = []
    vm_model = objects_module.kinds.KINDS["VM"]
    validate = vm_model.model_validate

    def counted(manifest: dict[str, object]) -> object:
        validated.append(str(manifest["metadata"]["name"]))  # type: ignore[index]
        return validate(manifest)

    monkeypatch.setattr(vm_model, "model_validate", counted)
    again = {o.name: o.resource() for o in objects.all()}
    assert validated == [] and all(again[n] is first[n] for n in first)

    revision = desired(MACHINE + vm("a", memory=512) + vm("b"))
    objects.apply_revision("r2", revision, clock.now())
    validated.clear()  # the revision's own validation, before the store
    changed = objects.get(("VM", "a"))
    assert changed is not None
    model = changed.resource()
    # Adopting kept the revision's model of the row: not validated again from the row.
    assert validated == [] and model is not first["a"] and model is revision[1].resource
    assert model.spec.memory_mib == 512  # type: ignore[attr-defined]
    # b's unchanged row: the model of the revision adopted last, one model kept per row.
    assert objects.get(("VM", "b")).resource() is revision[2].resource  # type: ignore[union-attr]


def test_the_models_and_details_of_a_kind_are_what_the_rows_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``resources_of_kind`` (what the estate's indexes read every window) gives what the
    parsed rows give: each live object's model and status details, by name, none being
    deleted; a manifest already validated is not validated again."""
    store, clock = Store.open(tmp_path / "state.db"), FakeClock()
    objects = store.objects
    objects.apply_revision("r1", desired(MACHINE + vm("b") + vm("a") + vm("c")), clock.now())
    objects.set_status(
        ("VM", "a"), ObjectStatus(details={"address": "100.64.0.7", "vmid": 1001}), clock.now()
    )
    objects.apply_revision("r2", desired(MACHINE + vm("b") + vm("a")), clock.now())  # c: deleting

    def parsed(kind: str) -> list[tuple[object, object]]:
        return [(o.resource(), o.status.details) for o in objects.of_kind(kind) if not o.deleting]

    assert objects.resources_of_kind("VM") == parsed("VM")
    assert [(r.metadata.name, d) for r, d in objects.resources_of_kind("VM")] == [
        ("a", {"address": "100.64.0.7", "vmid": 1001}),
        ("b", {}),
    ]
    validated: list[object] = []
    vm_model = objects_module.kinds.KINDS["VM"]
    validate = vm_model.model_validate
    monkeypatch.setattr(vm_model, "model_validate", lambda m: validated.append(m) or validate(m))
    assert objects.resources_of_kind("VM") == parsed("VM")
    assert validated == []


def test_only_the_rows_a_revision_changed_are_written_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One changed file among many: one row's manifest written; every row present takes
    the revision; a row that moved in its file is written with its new place; the same
    models again (as a recalled file brings them) are not dumped or hashed again."""
    store, clock = Store.open(tmp_path / "state.db"), FakeClock()
    objects = store.objects
    first = desired(MACHINE + vm("a") + vm("b") + vm("c"))
    objects.apply_revision("r1", first, clock.now())
    before = {o.name: o for o in objects.all()}
    written: list[str] = []
    store.db.set_trace_callback(
        lambda sql: written.append(sql) if "SET manifest" in sql or "INSERT" in sql else None
    )
    # b's memory changes; c moves down its file by one line (a comment above it).
    text = MACHINE + vm("a") + vm("b", memory=512) + "# moved\n" + vm("c")
    objects.apply_revision("r2", desired(text), clock.now())
    rows = {o.name: o for o in objects.all()}
    assert len(written) == 2 and all("'b'" in s or "'c'" in s for s in written), written
    assert {n: o.revision for n, o in rows.items()} == dict.fromkeys(rows, "r2")
    assert rows["c"].line == before["c"].line + 1 and rows["c"].generation == 1
    assert rows["b"].generation == 2 and rows["a"].updated_at == before["a"].updated_at
    assert rows["a"].manifest == before["a"].manifest

    same = desired(text)
    hashed: list[object] = []
    real = objects_module.spec_hash
    monkeypatch.setattr(
        objects_module, "spec_hash", lambda manifest: hashed.append(manifest) or real(manifest)
    )
    written.clear()
    objects.apply_revision("r3", same, clock.now())
    assert len(hashed) == 4 and written == []  # new models: hashed, nothing rewritten
    hashed.clear()
    objects.apply_revision("r4", same, clock.now())
    assert hashed == [] and written == []  # the very models of r3: remembered
    assert {o.revision for o in objects.all()} == {"r4"}
    store.close()


def assert_rows_give_back_the_models(result: ValidationResult) -> None:
    for loaded in result.objects:
        resource = loaded.resource
        again = KINDS[resource.kind_name].model_validate(canonical_manifest(resource))
        assert again == resource, loaded.key


@settings(max_examples=60, deadline=None)
@given(estate=estates)
def test_a_manifests_row_gives_back_its_model(estate: dict[str, str]) -> None:
    """Adopting keeps the revision's models for the reconcilers in place of validating
    each row's manifest again: sound only because a model's dump validates to an equal
    model, for every kind (random estates, and every manifest this repository ships)."""
    assert_rows_give_back_the_models(validate_sources(as_files(estate)))


def test_the_shipped_manifests_rows_give_back_their_models() -> None:
    root = Path(__file__).parents[3] / "manifests"
    result = validate_paths([root])
    assert len(result.objects) > 20
    assert_rows_give_back_the_models(result)
