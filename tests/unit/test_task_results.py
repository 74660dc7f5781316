"""Tasks return small typed results (issue 22), built from the effect as the ledger recorded it,
and pickle as Prefect needs (a module-level frozen dataclass)."""

from __future__ import annotations

import pickle

import pytest

from domain.money import Money
from integrations.suppliers.base import SupplierAnswer, SupplierCancellationResult, SupplierReturnResult
from tasks.disputes import DisputeAction
from tasks.effects import EffectResult
from tasks.notify import EmailSent
from tasks.privacy import PrivacyDone
from tasks.returns import MirroredReturn, ReverseDelivery
from tasks.store import StoreCancellation, StoreRefund


def test_a_dispute_action_reads_the_recorded_effect() -> None:
    offer = DisputeAction.of(EffectResult(data={"offer_made": "REFUND", "amount": "12.00"}, operation_id="op-1"))
    assert offer.offer_made == "REFUND" and offer.amount == "12.00" and offer.operation_id == "op-1"
    assert offer.submitted is False and offer.accepted is False
    submitted = DisputeAction.of(EffectResult(data={"submitted": True, "reconciled": True}))  # K5, found submitted
    assert submitted.submitted and submitted.reconciled and not submitted.already and submitted.operation_id is None
    assert DisputeAction.of(EffectResult(data={"accepted": True})).accepted  # K4


def test_a_dispute_action_pickles() -> None:
    action = DisputeAction(message_sent=True, operation_id="op-2")
    assert pickle.loads(pickle.dumps(action)) == action  # noqa: S301 - our own bytes


def test_a_store_refund_reads_the_recorded_refund() -> None:
    refund = StoreRefund.of(EffectResult(data={"refund_id": "gid://shopify/Refund/9", "amount": "24.90",
                                               "currency": "EUR", "gateway": "shopify_payments",
                                               "full_amount": "49.80"}, operation_id="op-3"))
    assert refund.money == Money.of("24.90", "EUR") and refund.full_amount == "49.80"
    assert refund.refund_id == "gid://shopify/Refund/9" and refund.operation_id == "op-3"
    older = StoreRefund.of(EffectResult(data={"refund_id": "r", "amount": "5", "currency": "EUR", "gateway": None}))
    assert older.full_amount is None and older.gateway is None  # an amount refund records no full amount
    with pytest.raises(KeyError):  # a record without its amount is not a refund of nothing
        StoreRefund.of(EffectResult(data={"refund_id": "r"}))
    nothing = StoreRefund(amount="0", currency="EUR")  # nothing refundable: no call, no operation
    assert nothing.money.is_zero() and nothing.operation_id is None


def test_a_store_cancellation_reads_the_recorded_cancel_and_names_its_operation() -> None:
    data = {"job_id": "gid://shopify/Job/1", "cancelled_at": "2026-03-02T10:00:00+00:00", "total_refunded": "59.80",
            "currency": "EUR", "refund_ids": ["gid://shopify/Refund/1", "gid://shopify/Refund/2"]}
    cancelled = StoreCancellation.of(EffectResult(data=data, operation_id="op-4"))
    assert cancelled.refunded == Money.of("59.80", "EUR") and cancelled.job_id == "gid://shopify/Job/1"
    assert cancelled.refund_ids == ("gid://shopify/Refund/1", "gid://shopify/Refund/2")
    reconciled = StoreCancellation.of(EffectResult(data={**data, "refund_ids": [], "reconciled": True},
                                                   operation_id="op-4"))
    assert reconciled.refund_ids == ()
    with pytest.raises(ValueError, match="operation"):  # perform always names the row (F2 archives by it)
        StoreCancellation.of(EffectResult(data=data))


def test_a_mirrored_return_and_its_reverse_delivery() -> None:
    ret = MirroredReturn.of(EffectResult(data={"id": "gid://shopify/Return/1", "name": "#1001-R1", "status": "OPEN",
                                               "line_items": [], "reconciled": True}, operation_id="op-5"))
    assert (ret.id, ret.name, ret.status, ret.operation_id) == ("gid://shopify/Return/1", "#1001-R1", "OPEN", "op-5")
    delivery = ReverseDelivery.of(EffectResult(data={"reverse_delivery_id": "gid://shopify/ReverseDelivery/2"}))
    assert delivery.id == "gid://shopify/ReverseDelivery/2"


def test_an_email_sent_reads_the_recorded_send() -> None:
    sent = EmailSent.of(EffectResult(data={"message_id": "<k@shop.example>", "smtp_code": 250}, operation_id="op-6"))
    assert sent == EmailSent(message_id="<k@shop.example>", smtp_code=250, operation_id="op-6")


def test_a_privacy_request_done_keeps_in_its_record_what_its_kind_did() -> None:
    export = PrivacyDone("export", export="/srv/privacy/exports/r1.json", rows={"cases": 2, "messages": 5})
    assert export.record() == {"export": "/srv/privacy/exports/r1.json", "rows": {"cases": 2, "messages": 5}}
    erased = PrivacyDone("erase", erased={"cases": 1}, artifacts_removed=3, files_removed=1, uploads_removed=2)
    assert erased.record() == {"erased": {"cases": 1}, "files_removed": 1, "artifacts_removed": 3,
                               "uploads_removed": 2, "uploads_held": 0}
    held = PrivacyDone("shop_erase", erased={}, uploads_held=1, uploads_held_note="kept while dispute d1 is open")
    assert held.record()["uploads_held_note"] == "kept while dispute d1 is open"  # the answer says why (17(3)(e))


def test_the_suppliers_answers_are_their_models() -> None:
    recorded = {"answer": "accepted", "remote_id": "CJ-1", "detail": None, "refund": None, "extra": {}}
    assert SupplierCancellationResult.model_validate(recorded).answer == SupplierAnswer.ACCEPTED
    back = SupplierReturnResult.model_validate({**recorded, "address": "12 rue X", "rma": "R-1"})
    assert back.address == "12 rue X" and back.label_url is None


@pytest.mark.parametrize("result", [
    StoreRefund(amount="1.00", currency="EUR", operation_id="op"),
    StoreCancellation(total_refunded="1.00", currency="EUR", operation_id="op", refund_ids=("r",)),
    MirroredReturn(id="gid://shopify/Return/1"), ReverseDelivery(id="d"), EmailSent(message_id="<m>"),
    PrivacyDone("erase", erased={"cases": 1}, uploads_held=1, uploads_held_note="kept")])
def test_the_task_results_pickle(result: object) -> None:
    assert pickle.loads(pickle.dumps(result)) == result  # noqa: S301 - our own bytes


def test_no_task_returns_a_dict_of_its_effect() -> None:
    import inspect

    import tasks.notify
    import tasks.returns
    import tasks.store
    import tasks.suppliers

    tasks_ = [getattr(m, n) for m in (tasks.notify, tasks.returns, tasks.store, tasks.suppliers) for n in dir(m)
              if hasattr(getattr(m, n), "fn") and getattr(getattr(m, n), "__module__", m.__name__) == m.__name__]
    assert len(tasks_) >= 12
    for t in tasks_:
        returned = inspect.signature(t.fn).return_annotation
        assert "dict" not in str(returned), f"{t.name} returns {returned}"


def test_a_privacy_request_carried_out_returns_a_typed_result() -> None:
    import inspect

    from tasks.privacy import carry_out

    assert inspect.signature(carry_out).return_annotation == "PrivacyDone"
