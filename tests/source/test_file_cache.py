"""Reused per-file results never change a verdict (``file_results.py``, ``file_cache.py``).

The property: over random estates and random edits, validating each revision with the
pre-receive hook's on-disk cache (a new ``CachedFiles`` per revision, as each push is a new
process) or the daemon's memory gives the same outcome as validating from scratch: ok or
not, every message with its file:line in the same order, every object and its model. Then
what may not be trusted: other code, other limits, other bytes, tampered, corrupt or
foreign files.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeport.source import file_cache, yaml_documents
from homeport.source.file_cache import CACHE_FILE, CachedFiles, code_fingerprint
from homeport.source.file_results import FileKey, RememberedFiles
from homeport.source.limits import SourceLimits
from homeport.source.selection import ManifestFiles
from homeport.source.validate import ValidationResult, validate_sources
from tests.source.estates import (
    SECRET,
    app,
    apply,
    as_files,
    edits,
    estates,
    machine,
    outcome,
    vm,
)

CODE = "code-under-test"


@settings(max_examples=60, deadline=None)
@given(estate=estates, changes=st.lists(edits, min_size=1, max_size=4))
def test_reused_results_give_the_full_validations_outcome(
    estate: dict[str, str], changes: list[tuple[dict[str, str], list[str]]]
) -> None:
    memory = RememberedFiles()
    with tempfile.TemporaryDirectory() as directory:
        for edit in [({}, []), *changes]:
            estate = apply(estate, edit)
            files = as_files(estate)
            expected = outcome(validate_sources(files))
            hook = CachedFiles(Path(directory) / "homeport", CODE)
            assert outcome(validate_sources(files, reuse=hook)) == expected
            hook.save()  # whatever the verdict (the hook saves only accepted pushes)
            assert outcome(validate_sources(files, reuse=memory)) == expected
            # Again, now that everything is known: all of it comes from the stores.
            again = CachedFiles(Path(directory) / "homeport", CODE)
            assert outcome(validate_sources(files, reuse=again)) == expected
            assert outcome(validate_sources(files, reuse=memory)) == expected


ESTATE = {
    "m.yaml": machine("a"),
    "vm.yaml": vm("a", "a", 512),
    "app.yaml": app("a", "a", 8080, "info"),
}
BROKEN_APP = app("a", "a", 8080, "info").replace("port: 8080", "port: many")


def cached(tmp_path: Path, code: str = CODE) -> CachedFiles:
    return CachedFiles(tmp_path / "homeport", code)


def saved(files: list[tuple[str, bytes]] | ManifestFiles, tmp_path: Path) -> ValidationResult:
    """Validated with the cache, which then saves what it kept, whatever the verdict."""
    cache = cached(tmp_path)
    result = validate_sources(files, reuse=cache)
    cache.save()
    return result


def keys(estate: dict[str, str], limits: SourceLimits | None = None) -> list[FileKey]:
    return [FileKey.of(n, raw, limits or SourceLimits()) for n, raw in as_files(estate)]


def warm(tmp_path: Path, estate: dict[str, str] = ESTATE) -> Path:
    """A cache holding ``estate``'s files; its path."""
    assert saved(as_files(estate), tmp_path).ok
    assert len(cached(tmp_path).recall(keys(estate))) == len(estate)
    return tmp_path / "homeport" / CACHE_FILE


def test_the_cache_is_private_and_answers_a_new_process(tmp_path: Path) -> None:
    path = warm(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary file left


def test_other_code_is_a_miss(tmp_path: Path) -> None:
    warm(tmp_path)
    assert cached(tmp_path, code="other code").recall(keys(ESTATE)) == {}


def test_a_change_to_the_validating_code_changes_the_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = code_fingerprint()
    assert before is not None and code_fingerprint() == before
    changed = tmp_path / "yaml_documents.py"
    changed.write_bytes(Path(str(yaml_documents.__file__)).read_bytes() + b"# changed\n")
    monkeypatch.setattr(yaml_documents, "__file__", str(changed))
    assert code_fingerprint() not in (None, before)
    monkeypatch.setattr(yaml_documents, "__file__", str(tmp_path / "gone.py"))
    assert code_fingerprint() is None  # unreadable source: nothing is cached
    assert CachedFiles(tmp_path / "homeport", None).recall(keys(ESTATE)) == {}


def test_other_limits_are_a_miss(tmp_path: Path) -> None:
    warm(tmp_path)
    limits = SourceLimits(max_objects=10)
    assert cached(tmp_path).recall(keys(ESTATE, limits)) == {}
    # Validating under them answers as from scratch, then keeps them.
    files = ManifestFiles(as_files(ESTATE), [], limits)
    assert outcome(saved(files, tmp_path)) == outcome(validate_sources(files))
    assert len(cached(tmp_path).recall(keys(ESTATE, limits))) == len(ESTATE)
    assert cached(tmp_path).recall(keys(ESTATE)) == {}


def test_changed_bytes_are_a_miss_and_are_validated(tmp_path: Path) -> None:
    warm(tmp_path)
    broken = {**ESTATE, "app.yaml": BROKEN_APP}
    held = cached(tmp_path).recall(keys(broken))
    assert sorted(key.name for key in held) == ["m.yaml", "vm.yaml"]
    result = saved(as_files(broken), tmp_path)
    assert [e.render() for e in result.errors] == [
        "app.yaml:8: App/app-a: spec.port: Input should be a valid integer (got 'many') "
        "(write a whole number)"
    ]


def test_an_entry_for_other_bytes_cannot_make_an_invalid_file_pass(tmp_path: Path) -> None:
    """The valid app.yaml's entry, moved to the broken file's name, or the whole cache of
    another estate where app.yaml was valid: the broken bytes are still validated."""
    path = warm(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    valid = next(json.loads(line) for line in lines[1:] if json.loads(line)[0] == "app.yaml")
    for name in ("app.yaml", "other.yaml"):
        forged = [name, valid[1], valid[2]]
        rest = [line for line in lines[1:] if json.loads(line)[0] != name]
        path.write_text("".join([lines[0], *rest, json.dumps(forged) + "\n"]))
        estate = {**ESTATE, name: BROKEN_APP}
        result = saved(as_files(estate), tmp_path)
        assert not result.ok
        assert outcome(result) == outcome(validate_sources(as_files(estate)))


def test_a_file_with_a_secret_never_reaches_the_cache(tmp_path: Path) -> None:
    leaky = {**ESTATE, "app.yaml": app("a", "a", 8080, SECRET)}
    result = saved(as_files(leaky), tmp_path)
    assert any("holds a GitHub token in plain text" in e.message for e in result.errors)
    text = (tmp_path / "homeport" / CACHE_FILE).read_text()
    assert SECRET not in text and "Q7r2" not in text
    held = cached(tmp_path).recall(keys(leaky))
    assert sorted(k.name for k in held) == ["m.yaml", "vm.yaml"]


def test_data_json_cannot_hold_is_not_kept(tmp_path: Path) -> None:
    """A date (or binary, a set, a number as a key) would come back as something else."""
    dated = {
        "m.yaml": machine("a").replace(
            "metadata: {name: m-a}", "metadata: {name: m-a}\nx: 2024-01-01"
        )
    }
    saved(as_files(dated), tmp_path)
    assert cached(tmp_path).recall(keys(dated)) == {}


def corruptions(text: str) -> dict[str, str]:
    header, first, *rest = text.splitlines(keepends=True)
    entry = json.loads(first)
    return {
        "truncated": text[: len(text) - 20],
        "not JSON": header + "{oops\n" + "".join(rest),
        "a line tree of the wrong shape": header
        + json.dumps([entry[0], entry[1], [[0, ["x", {}], entry[2][0][2]]]])
        + "\n"
        + "".join(rest),
        "an entry twice": header + first + first + "".join(rest),
        "not ASCII": text.replace("homeport.dev", "homepört.dev", 1),
        "empty": "",
    }


CORRUPTIONS = (
    "truncated",
    "not JSON",
    "a line tree of the wrong shape",
    "an entry twice",
    "not ASCII",
    "empty",
)


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_corrupt_cache_is_ignored_whole(tmp_path: Path, corruption: str) -> None:
    path = warm(tmp_path)
    path.write_text(corruptions(path.read_text())[corruption])
    assert cached(tmp_path).recall(keys(ESTATE)) == {}
    # And a full validation answers, then writes a good cache again.
    assert saved(as_files(ESTATE), tmp_path).ok
    assert len(cached(tmp_path).recall(keys(ESTATE))) == len(ESTATE)


def test_a_cache_others_can_write_is_not_trusted_nor_written(tmp_path: Path) -> None:
    path = warm(tmp_path)
    before = path.read_text()
    path.chmod(0o620)
    assert cached(tmp_path).recall(keys(ESTATE)) == {}
    path.chmod(0o644)  # readable by others is their business; writable is not
    assert len(cached(tmp_path).recall(keys(ESTATE))) == len(ESTATE)
    path.parent.chmod(0o777)
    assert cached(tmp_path).recall(keys(ESTATE)) == {}
    saved(as_files({"m.yaml": machine("b")}), tmp_path)
    assert path.read_text() == before  # nothing written into a directory others can write


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_cache_owned_by_another_user_is_not_trusted(tmp_path: Path) -> None:
    path = warm(tmp_path)
    os.chown(path, 65534, -1)
    assert cached(tmp_path).recall(keys(ESTATE)) == {}
    os.chown(path, 0, -1)
    os.chown(path.parent, 65534, -1)
    assert cached(tmp_path).recall(keys(ESTATE)) == {}


def test_a_link_in_place_of_the_cache_is_not_followed(tmp_path: Path) -> None:
    path = warm(tmp_path)
    elsewhere = tmp_path / "elsewhere.jsonl"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    assert cached(tmp_path).recall(keys(ESTATE)) == {}


def test_an_oversized_cache_is_not_read(tmp_path: Path) -> None:
    path = warm(tmp_path)
    limits = SourceLimits(max_estate_bytes=100)
    files = ManifestFiles(as_files(ESTATE), [], limits)
    saved(files, tmp_path)
    header = path.read_text().splitlines(keepends=True)[0]
    assert path.stat().st_size - len(header) <= 4 * 100  # nothing kept beyond the bound
    path.write_text(path.read_text() + " " * 1000)
    assert cached(tmp_path).recall(keys(ESTATE, limits)) == {}


def test_leftovers_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    path = warm(tmp_path)
    leftover = path.parent / f".{CACHE_FILE}.123.abc.tmp"
    leftover.write_text("half")
    saved(as_files({**ESTATE, "m2.yaml": machine("b")}), tmp_path)
    assert not leftover.exists()


def test_an_unchanged_revision_writes_nothing(tmp_path: Path) -> None:
    path = warm(tmp_path)
    stamp = path.stat().st_mtime_ns, path.stat().st_ino
    saved(as_files(ESTATE), tmp_path)
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == stamp


def test_the_fingerprint_covers_this_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = code_fingerprint()
    changed = tmp_path / "file_cache.py"
    changed.write_bytes(Path(str(file_cache.__file__)).read_bytes() + b"# changed\n")
    monkeypatch.setattr(file_cache, "__file__", str(changed))
    assert code_fingerprint() != before


def test_a_recalled_file_brings_its_models_and_their_problems() -> None:
    """The daemon's memory keeps each file's models: an unchanged file's objects are the
    very models of the revision before (not validated again), a changed file's are new,
    and a recalled file's model errors are still reported."""
    memory = RememberedFiles()
    estate = {**ESTATE, "broken.yaml": BROKEN_APP.replace("app-a", "app-b")}
    first = validate_sources(as_files(estate), reuse=memory)
    assert [e.file for e in first.errors] == ["broken.yaml"]
    models = {o.key: o.resource for o in first.objects}
    estate["vm.yaml"] = vm("a", "a", 1024)
    second = validate_sources(as_files(estate), reuse=memory)
    assert outcome(second) == outcome(validate_sources(as_files(estate)))
    assert [e.file for e in second.errors] == ["broken.yaml"]  # recalled, still refused
    again = {o.key: o.resource for o in second.objects}
    assert again[("Machine", "m-a")] is models[("Machine", "m-a")]
    assert again[("VM", "vm-a")] is not models[("VM", "vm-a")]
    assert again[("VM", "vm-a")].spec.memory_mib == 1024  # type: ignore[attr-defined]
