"""The kinds' names table (``homeport/kinds/names.py``, read by ``get`` and completion
without the models) says what the models say, in the same order."""

from __future__ import annotations

from homeport.kinds import KIND_MODELS, lookup_kind
from homeport.kinds.names import NAMES, KindNames, lookup_kind_name


def test_the_table_is_the_models_names_in_their_order() -> None:
    assert (
        tuple(KindNames(model.kind_name, model.plural, model.short_names) for model in KIND_MODELS)
        == NAMES
    )


def test_every_spelling_finds_the_same_kind_as_the_models() -> None:
    for model in KIND_MODELS:
        for word in (model.kind_name, model.kind_name.upper(), model.plural, *model.short_names):
            assert lookup_kind_name(word) == model.kind_name
            assert lookup_kind(word) is model
    assert lookup_kind_name("vmz") is None
    assert lookup_kind("vmz") is None
