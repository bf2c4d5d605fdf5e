"""Which files are manifests, and the size limits checked before reading: one rule for
``homeport validate`` (a directory), the pre-receive hook and the daemon (a git commit).

The git side (a symlink pushed, refused at pre-receive and at adoption) is in
``test_git_source.py``; these tests use directories, where a followed link could reach
files outside the estate.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from homeport.source.directory import read_directory
from homeport.source.limits import SourceLimits
from homeport.source.selection import EntryType, TreeEntry, read_selected, select_manifests
from homeport.source.sources import DirectorySource
from homeport.source.validate import validate_paths
from testkit.gitwork import machine


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    root = tmp_path / "estate"
    (root / "machines").mkdir(parents=True)
    (root / "machines" / "a.yaml").write_text(machine("a"))
    return root


def rendered(paths: list[Path]) -> list[str]:
    return [e.render() for e in validate_paths(paths).errors]


def test_a_symlinked_manifest_is_refused_naming_the_link(estate: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(machine("b"))
    (estate / "machines" / "b.yaml").symlink_to(outside)
    result = validate_paths([estate])
    assert [e.render() for e in result.errors] == [
        f"{estate}/machines/b.yaml:1: Unknown/-: a symbolic link to {outside}: homeport never "
        "follows links (git keeps only the link, so the daemon would not read what this copy "
        "reads) (replace the link with the file itself, or move the file here)"
    ]
    assert all(obj.name != "b" for obj in result.objects)


def test_a_link_to_a_file_outside_is_never_read(estate: Path) -> None:
    (estate / "passwd.yaml").symlink_to("/etc/passwd")
    (estate / "linked-dir").symlink_to("/etc")
    errors = rendered([estate])
    assert [e.split(":", 1)[0] for e in errors] == [
        f"{estate}/linked-dir",
        f"{estate}/passwd.yaml",
    ]
    assert not any("root:x:0" in e for e in errors)


def test_a_symlink_named_on_the_command_line_is_refused(estate: Path) -> None:
    link = estate / "link.yaml"
    link.symlink_to(estate / "machines" / "a.yaml")
    assert rendered([link]) == [
        f"{link}:1: Unknown/-: a symbolic link to {estate}/machines/a.yaml: homeport never "
        "follows links (git keeps only the link, so the daemon would not read what this copy "
        "reads) (replace the link with the file itself, or move the file here)"
    ]


def test_a_manifest_under_a_suffix_that_is_not_read_is_refused(estate: Path) -> None:
    (estate / "apps.YAML").write_text(machine("b"))
    assert rendered([estate]) == [
        f"{estate}/apps.YAML:1: Unknown/-: '.YAML' is not read as a manifest (suffixes are "
        "case-sensitive) (rename it to apps.yaml)"
    ]


def test_json_and_dotfiles_holding_homeport_objects_are_refused(estate: Path) -> None:
    (estate / "inference.json").write_text('{"apiVersion": "homeport.dev/v1alpha1"}')
    (estate / ".inference.yaml").write_text(machine("c"))
    assert rendered([estate]) == [
        f"{estate}/.inference.yaml:1: Unknown/-: holds homeport objects (homeport.dev/) but "
        "hidden files are not read (rename it to inference.yaml)",
        f"{estate}/inference.json:1: Unknown/-: holds homeport objects (homeport.dev/) but "
        "'.json' files are not read (rename it to inference.yaml)",
    ]


def test_other_yaml_and_hidden_directories_are_not_manifests(estate: Path) -> None:
    (estate / ".gitlab-ci.yml").write_text("stages: [test]\n")
    (estate / "renovate.json").write_text('{"extends": ["config:base"]}')
    (estate / ".github" / "workflows").mkdir(parents=True)
    (estate / ".github" / "workflows" / "ci.yaml").write_text(machine("ci"))
    (estate / ".git").mkdir()
    (estate / ".git" / "x.yaml").symlink_to("/etc/passwd")
    result = validate_paths([estate])
    assert result.errors == []
    assert [o.name for o in result.objects] == ["a"]


def test_a_fifo_is_refused_not_blocked_on(estate: Path) -> None:
    os.mkfifo(estate / "pipe.yaml")
    assert rendered([estate]) == [
        f"{estate}/pipe.yaml:1: Unknown/-: not a regular file (replace it with a regular file)"
    ]


def test_a_huge_file_is_refused_from_its_size_without_reading_it(estate: Path) -> None:
    huge = estate / "huge.yaml"
    with huge.open("wb") as handle:
        handle.truncate(1 << 40)  # 1 TiB, sparse: reading it whole could never succeed
    assert rendered([estate]) == [
        f"{estate}/huge.yaml:1: Unknown/-: file is 1048576.0 MiB, larger than the 4.0 MiB "
        "limit per file (split it into several manifest files)"
    ]


def test_the_estate_as_a_whole_is_bounded_before_anything_is_read(estate: Path) -> None:
    for name in "bcd":
        (estate / f"{name}.yaml").write_text(machine(name) + "#" * 300)
    limits = SourceLimits(max_estate_bytes=1000)
    found = read_directory(estate, limits=limits)
    assert found.files == []
    [error] = found.errors
    assert error.message.startswith("the manifests total 1.4 KiB, more than the estate limit")


def test_limits_are_checked_on_listed_sizes_before_the_reader_is_called() -> None:
    asked: list[list[str]] = []

    def reader(wanted: list[TreeEntry]) -> list[bytes | object]:
        asked.append([e.display for e in wanted])
        return [b"" for _ in wanted]

    def entry(name: str, size: int) -> TreeEntry:
        return TreeEntry(PurePosixPath(name), name, EntryType.FILE, size)

    limits = SourceLimits(max_file_bytes=100, max_estate_bytes=1000)
    found = read_selected([entry("a.yaml", 50), entry("b.yaml", 101)], reader, limits)  # type: ignore[arg-type]
    assert asked == [["a.yaml"]]
    assert [e.display if False else e.file for e in found.errors] == ["b.yaml"]
    asked.clear()
    found = read_selected([entry(f"{n}.yaml", 90) for n in range(12)], reader, limits)  # type: ignore[arg-type]
    assert asked == []
    assert "estate limit" in found.errors[0].message


def test_the_object_count_is_bounded(estate: Path) -> None:
    (estate / "more.yaml").write_text("---\n".join(machine(n) for n in "bcd"))
    result = validate_paths([estate], SourceLimits(max_objects=3))
    assert [e.render() for e in result.errors] == [
        f"{estate}/more.yaml:11: Unknown/-: the estate has 4 objects, more than the limit of 3 "
        "(remove objects, or raise the limit (docs/manifests.md#limits))"
    ]
    assert result.objects == []


def test_the_directory_source_reads_by_the_same_rule(estate: Path, tmp_path: Path) -> None:
    source = DirectorySource(estate)
    before = source.head()
    (estate / "b.yaml").symlink_to(tmp_path / "nowhere.yaml")
    after = source.head()
    assert before is not None and after is not None and before.sha != after.sha
    found = source.files(after.sha)
    assert [name for name, _ in found.files] == ["machines/a.yaml"]
    assert [e.file for e in found.errors] == ["b.yaml"]


def test_selection_is_by_name_and_type_only() -> None:
    entries = [
        TreeEntry(PurePosixPath(p), p, t)
        for p, t in [
            ("a.yaml", EntryType.FILE),
            ("b.yml", EntryType.FILE),
            ("c.yaml", EntryType.SYMLINK),
            ("vendor", EntryType.SUBMODULE),
            ("notes.txt", EntryType.FILE),
            (".hidden/d.yaml", EntryType.SYMLINK),
            ("e.json", EntryType.FILE),
        ]
    ]
    selection = select_manifests(entries)
    assert [e.display for e in selection.manifests] == ["a.yaml", "b.yml"]
    assert [e.display for e in selection.lookalikes] == ["e.json"]
    assert [e.file for e in selection.errors] == ["c.yaml", "vendor"]


def test_a_directory_that_cannot_be_listed_is_an_error_not_an_empty_folder(
    estate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root lists any directory whatever its mode, so the refusal is made at os.scandir.
    real_scandir = os.scandir

    def scandir(path: Path) -> object:
        if Path(path).name == "machines":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert rendered([estate]) == [
        f"{estate}/machines:1: Unknown/-: cannot list: Permission denied (check permissions)"
    ]


def test_several_paths_share_one_estate_budget(estate: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.yaml").write_text(machine("b"))
    size = len(machine("a"))
    assert validate_paths([estate, other], SourceLimits(max_estate_bytes=2 * size)).ok
    result = validate_paths([estate, other], SourceLimits(max_estate_bytes=2 * size - 1))
    assert [e.message.split(",")[0] for e in result.errors] == [
        f"the manifests total {2 * size} bytes"
    ]
