"""Typed case state (issue 22): the models read `case.data` as stored (unknown keys kept, the
readers' defaults), and check what is written into it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.case_state import CaseData, OrderData, ReturnData, data_model


def test_unknown_keys_are_kept_and_defaults_are_the_readers() -> None:
    stored = {"placed_at": "2026-03-02T10:00:00+00:00", "signals": ["high-risk destination NG"],
              "something_older": {"a": 1}}
    facts = OrderData.load(stored)
    assert facts.placed_at == "2026-03-02T10:00:00+00:00" and facts.signals == ["high-risk destination NG"]
    assert facts.held == [] and facts.tracking_sent == [] and facts.watch_round == 1 and facts.watch_due is False
    assert facts.model_dump(mode="json", exclude_unset=True) == stored  # nothing lost, nothing added
    assert OrderData.load(None).operator_decision is None


def test_what_is_written_is_checked_and_otherwise_unchanged() -> None:
    assert OrderData.checked({"watch_due": False, "watch_round": 3, "note": {"x": 1}}) == \
        {"watch_due": False, "watch_round": 3, "note": {"x": 1}}
    with pytest.raises(ValidationError):
        OrderData.checked({"held": "gid://shopify/FulfillmentOrder/1"})  # a list, not a string
    with pytest.raises(ValidationError):
        ReturnData.checked({"reminder_due": "maybe"})


def test_each_process_has_its_model() -> None:
    assert data_model("order") is OrderData and data_model("return") is ReturnData
    assert data_model("something else") is CaseData
