"""The field types of the Proxmox reply models: each PVE quirk, and the field default for
what cannot be read (so one odd key never fails a whole resync)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import Field

from homeport.clients.proxmox_fields import (
    PveBool,
    PveFloat,
    PveIdList,
    PveInt,
    PveItem,
    PveKeep,
    PveList,
    PveLock,
    PveOptionalInt,
    PvePresent,
    PveStr,
    PveTags,
    PveText,
)


class Sample(PveItem):
    count: PveInt = 7
    ratio: PveFloat = 0.5
    flag: PveBool = True
    text: PveStr = "default"
    note: PveText = None
    optional: PveOptionalInt = None
    lock: PveLock = None
    running: PvePresent = Field(False, validation_alias="pid")
    tags: PveTags = ()
    content: PveList = ()
    vmids: PveIdList = ()
    keep: PveKeep = Field(default_factory=dict)


def parse(**data: Any) -> Sample:
    return Sample.parse(data)


@pytest.mark.parametrize(
    ("sent", "read"),
    [(4, 4), ("4", 4), (" 12 ", 12), ("1.5", 1), (2.9, 2), (True, 1), ("n/a", 7), (None, 7)],
)
def test_integers_as_numbers_or_strings(sent: object, read: int) -> None:
    assert parse(count=sent).count == read


@pytest.mark.parametrize(
    ("sent", "read"),
    [(1, True), (0, False), ("1", True), ("0", False), (True, True), ("on", True), (None, True)],
)
def test_booleans_as_0_and_1(sent: object, read: bool) -> None:
    assert parse(flag=sent).flag is read


def test_absent_keys_take_the_field_default() -> None:
    sample = parse()
    assert (sample.count, sample.ratio, sample.flag, sample.text) == (7, 0.5, True, "default")
    assert (sample.note, sample.optional, sample.lock, sample.running) == (None, None, None, False)
    assert (sample.tags, sample.content, sample.vmids, sample.keep) == ((), (), (), {})


def test_numbers_sent_for_text_and_text_for_numbers() -> None:
    sample = parse(text=101, note=1.5, ratio="0.25", optional="12")
    assert (sample.text, sample.note, sample.ratio, sample.optional) == ("101", "1.5", 0.25, 12)
    assert parse(ratio="fast").ratio == 0.5 and parse(text=None).text == "default"


def test_lists_tags_locks_and_presence() -> None:
    sample = parse(tags="web;Homeport,prod web", content="images,,rootdir", vmids="101,102")
    assert sample.tags == ("Homeport", "prod", "web")
    assert (sample.content, sample.vmids) == (("images", "rootdir"), (101, 102))
    assert parse(vmids=100).vmids == (100,)
    assert parse(lock="").lock is None and parse(lock="backup").lock == "backup"
    assert parse(pid=4242).running and not parse(pid=None).running


def test_retention_as_object_or_property_string() -> None:
    assert parse(keep={"keep-daily": "7", "keep-weekly": 4}).keep == {
        "keep-daily": 7,
        "keep-weekly": 4,
    }
    assert parse(keep="keep-last=3,keep-all=0").keep == {"keep-last": 3, "keep-all": 0}
    assert parse(keep=None).keep == {}


@given(st.dictionaries(st.sampled_from(["count", "ratio", "flag", "text", "tags"]), st.text()))
@example({"count": "INFINITY"})  # float() reads it; int() of it raised OverflowError
@example({"count": "nan", "ratio": "-inf"})
def test_any_text_in_a_typed_field_parses(data: dict[str, str]) -> None:
    """Whatever text PVE puts in these keys, the reply parses (no ValidationError)."""
    assert isinstance(Sample.parse(data), Sample)


def test_numbers_pve_never_sends_read_as_absent() -> None:
    sample = Sample.parse({"count": "inf", "ratio": "NaN"})
    assert (sample.count, sample.ratio) == (Sample.parse({}).count, Sample.parse({}).ratio)


def test_a_list_reply_parses_in_one_call() -> None:
    assert [s.count for s in Sample.parse_list([{"count": "1"}, {}, {"count": 3}])] == [1, 7, 3]
