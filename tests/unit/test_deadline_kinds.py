"""Deadline kinds are one enum (issue 22): every kind the ledger can hold has a handler in the
scheduled check, and a stored kind is read back to its member (key dropped) or to None."""

from __future__ import annotations

from domain.deadlines import NOT_A_ROW, DeadlineKind
from flows.sweep import AFTER_END, BACKGROUND_DEADLINES, HANDLERS


def test_every_stored_deadline_kind_has_a_handler() -> None:
    missing = set(DeadlineKind) - NOT_A_ROW - set(HANDLERS)
    assert not missing, f"deadline kinds without a handler in flows/sweep.py HANDLERS: {sorted(missing)}"
    assert not NOT_A_ROW & set(HANDLERS), "a kind never stored needs no handler"
    assert set(HANDLERS) <= set(DeadlineKind)
    assert AFTER_END <= set(HANDLERS)
    assert all(kinds <= set(HANDLERS) for kinds in BACKGROUND_DEADLINES.values())


def test_the_stored_value_is_the_plain_string() -> None:
    # the column keeps the strings written before the enum: no migration
    assert DeadlineKind.LEGAL_REFUND == "legal_refund" and str(DeadlineKind.LEGAL_REFUND) == "legal_refund"
    assert DeadlineKind.SUPPLIER_ANSWER.keyed("atelier-lyon") == "supplier_answer:atelier-lyon"
    assert DeadlineKind.SHIPPING_WATCH.keyed(2) == "shipping_watch:2"


def test_a_stored_kind_reads_back_to_its_member_or_none() -> None:
    assert DeadlineKind.of("supplier_answer:atelier-lyon") is DeadlineKind.SUPPLIER_ANSWER
    assert DeadlineKind.of("legal_refund") is DeadlineKind.LEGAL_REFUND
    assert DeadlineKind.of("shipping_watch:3") is DeadlineKind.SHIPPING_WATCH
    assert DeadlineKind.of("legal_refnd") is None
    assert DeadlineKind.of("") is None


def test_a_flag_the_check_sets_is_a_field_of_the_process_state() -> None:
    import pytest

    from domain.case_state import OrderData, ReturnData
    from flows.sweep import _flag

    with pytest.raises(TypeError, match="reminder_du"):
        _flag(ReturnData, "reminder_du", "a typo")
    with pytest.raises(TypeError, match="watch_round"):
        _flag(OrderData, "watch_round", "an int, not a flag")


def test_deadline_statuses_keep_their_stored_strings() -> None:
    from domain.deadlines import DeadlineStatus

    assert [s.value for s in DeadlineStatus] == ["open", "met", "acted", "escalated", "cancelled"]
