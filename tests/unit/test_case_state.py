"""Typed case state (issue 22): the models read `case.data` as stored (unknown keys kept, the
readers' defaults), and check what is written into it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain.case_state import CancellationData, CaseData, DisputeData, OrderData, ReturnData, data_model, facts_of
from tasks.operator_inbox import DISPUTE_DECISION


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


# Real `case.data` of each process as today's code writes it, taken from a flows test run
# (tests/flows/test_cancellation_flow.py, test_return_flow.py, test_dispute_flow.py).
STORED = json.loads((Path(__file__).parent / "data" / "stored_case_data.json").read_text())


@pytest.mark.parametrize(("kind", "index"), [(k, i) for k, rows in sorted(STORED.items()) for i in range(len(rows))])
def test_a_stored_case_loads_and_dumps_back_identical(kind: str, index: int) -> None:
    stored = STORED[kind][index]
    model = data_model(kind)
    facts = model.load(stored)
    assert facts.model_dump(mode="json", exclude_unset=True) == stored  # same keys, same JSON shapes
    assert model.checked(stored) == stored  # written back through the model: unchanged
    assert set(stored) <= set(model.model_fields), "every key a flow writes is a typed field"


def test_the_readers_defaults() -> None:
    cancellation = CancellationData.load({})
    assert cancellation.cancel_lines == {} and cancellation.supplier_answers == {}
    assert cancellation.suppliers_asked == {}
    assert cancellation.refunded_before == "0" and cancellation.store_cancelled is False and cancellation.plan is None
    assert str(CancellationData.load({"refunded": "12.50", "currency": "EUR"}).refunded_amount("USD").amount) == "12.50"
    assert CancellationData.load({}).refunded_amount("USD").is_zero()
    returned = ReturnData.load({})
    assert returned.lines == {} and returned.photos == [] and returned.sealed == [] and returned.siblings == {}
    assert returned.refund_method == "original" and returned.outcome == "refunded" and returned.instructions is None
    dispute = DisputeData.load({})
    assert dispute.operator_decision is None and dispute.incomplete_alerted is False and dispute.view is None


def test_a_wrong_type_for_a_new_field_is_refused() -> None:
    with pytest.raises(ValidationError):
        CancellationData.checked({"suppliers_asked": ["cj"]})  # supplier -> what was asked, not a list
    with pytest.raises(ValidationError):
        DisputeData.checked({"incomplete_alerted": "perhaps"})


def test_the_dispute_decision_record_is_the_key_the_desk_writes() -> None:
    assert DISPUTE_DECISION in DisputeData.model_fields  # tasks/operator_inbox writes it, flows/disputes reads it


def test_a_parcel_reads_as_the_tracking_readers_did() -> None:
    facts = facts_of("return", {"parcels": {"1Z9": {"company": "UPS"}}})
    assert isinstance(facts, ReturnData)
    parcel = facts.parcels["1Z9"]
    assert parcel.role == "outbound" and parcel.carrier is None and parcel.lost_flagged is None  # info.get(k, default)
    assert facts_of("order", None).parcels == {} and isinstance(facts_of("dispute", {}), DisputeData)
    with pytest.raises(ValidationError):
        ReturnData.checked({"refund_method": "cash"})  # F1: original | store_credit


def test_the_keys_every_process_shares_are_on_the_base_model() -> None:
    for model in (CancellationData, ReturnData, DisputeData, OrderData):  # CaseStep reads them on any process
        assert {"country", "refund_approval", "parcels", "waiting_run"} <= set(model.model_fields)
    assert facts_of("cancellation", {"country": "BE"}).country == "BE"
