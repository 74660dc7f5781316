"""Order numbers as the store shows them (issue 14): Shopify's default "#1001", or the store's
own prefix / suffix ("MLB-3001"), accepted by the customer forms and looked up as typed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from domain.inbound import CustomerCancellationBody, normalise_order_number
from integrations.shopify.services.orders import _order_name


@pytest.mark.parametrize(
    ("typed", "name"),
    [("1001", "#1001"), ("#1001", "#1001"), (" #1001 ", "#1001"), ("MLB-3001", "MLB-3001"),
     ("3001-FR", "3001-FR"), ("#ML3001", "#ML3001")],
)
def test_the_store_s_own_order_format_is_accepted(typed: str, name: str) -> None:
    assert normalise_order_number(typed) == name
    assert _order_name(normalise_order_number(typed)) == name


@pytest.mark.parametrize("typed", ["", "MLB-", "name:1001 OR x", "1001; drop", "a" * 41])
def test_what_is_not_an_order_number_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        normalise_order_number(typed)


def test_the_cancellation_form_takes_a_prefixed_number() -> None:
    body = CustomerCancellationBody(order_number="MLB-3001", email="a@b.example", reason="changed_mind")
    assert body.order_number == "MLB-3001"
    with pytest.raises(ValidationError):
        CustomerCancellationBody(order_number="MLB 3001 x", email="a@b.example", reason="changed_mind")
