"""Inbound event names are one enum (issue 22): each is emitted for some (source, topic) or is
the order-shipped event, and each runs exactly one process."""

from __future__ import annotations

from domain.inbound import (
    DISPUTE_EVENT_NAMES,
    EVENT_NAMES,
    ORDER_EVENT_NAMES,
    ORDER_SHIPPED_EVENT,
    RETURN_EVENT_NAMES,
    EventName,
)


def test_every_event_name_is_emitted_and_the_values_are_unchanged_strings() -> None:
    assert set(EventName) == set(EVENT_NAMES.values()) | {ORDER_SHIPPED_EVENT}
    assert EVENT_NAMES[("shopify", "orders/create")] == "store.order.created"
    assert all(name.value.count(".") >= 2 for name in EventName)  # <domain>.<object>.<past tense>


def test_each_event_name_runs_at_most_one_of_the_later_processes() -> None:
    sets = (DISPUTE_EVENT_NAMES, RETURN_EVENT_NAMES, ORDER_EVENT_NAMES)
    assert all(a.isdisjoint(b) for i, a in enumerate(sets) for b in sets[i + 1:])
    assert all(s <= set(EventName) for s in sets)
