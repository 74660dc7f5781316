"""Operation kinds are one enum (domain/operations.py, issue 22): the strings the ledger already
holds, every channel's and processor's kind a member, and no bare kind string left where an
effect is planned."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain.disputes import Processor
from domain.operations import (
    DISPUTE_SUBMIT_KINDS,
    EMAIL_KINDS,
    SUPPLIER_KINDS,
    OperationKind,
    dispute_accept,
    dispute_stage,
    dispute_submit,
    supplier_cancel,
    supplier_return,
)
from domain.policy import SupplierChannelKind

ROOT = Path(__file__).resolve().parents[2]


def test_the_stored_strings_are_unchanged() -> None:
    assert OperationKind.SHOPIFY_REFUND_CREATE == "shopify.refund_create"
    assert OperationKind.SHOPIFY_ORDER_CANCEL == "shopify.order_cancel"
    assert OperationKind.EMAIL_CUSTOMER == "email.customer" and OperationKind.EMAIL_OPERATOR == "email.operator"
    assert supplier_cancel(SupplierChannelKind.CJ) == "supplier.cancel.cj"
    assert supplier_return(SupplierChannelKind.EMAIL) == "supplier.return.email"
    assert dispute_submit(Processor.SHOPIFY_PAYMENTS) == "dispute.submit.shopify_payments"
    assert {k.value.split(".")[0] for k in OperationKind} == {"shopify", "email", "supplier", "dispute", "aftership"}


@pytest.mark.parametrize("channel", list(SupplierChannelKind))
def test_every_supplier_channel_has_its_kinds(channel: SupplierChannelKind) -> None:
    assert supplier_cancel(channel).startswith(SUPPLIER_KINDS)
    assert supplier_return(channel).startswith(SUPPLIER_KINDS)


@pytest.mark.parametrize("processor", list(Processor))
def test_every_processor_has_its_dispute_kinds(processor: Processor) -> None:
    assert dispute_submit(processor).startswith(DISPUTE_SUBMIT_KINDS)
    assert dispute_stage(processor) in OperationKind and dispute_accept(processor) in OperationKind


def test_the_families_read_by_prefix_hold_members() -> None:
    assert {k for k in OperationKind if k.startswith(EMAIL_KINDS)} == {OperationKind.EMAIL_CUSTOMER,
                                                                      OperationKind.EMAIL_OPERATOR}


def test_no_effect_is_planned_with_a_bare_kind_string() -> None:
    bare = re.compile(r"""\bkind=f?["'][a-z_]+\.""")
    found = [f"{p.relative_to(ROOT)}:{n}" for layer in ("tasks", "flows", "ledger")
             for p in (ROOT / layer).rglob("*.py")
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if bare.search(line)]
    assert found == []
