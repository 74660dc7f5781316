"""Charges and payment intents: created with a dispute, read back (`GET /v1/charges/{charge}`,
`GET /v1/payment_intents/{intent}`), and expanded into the objects that name them."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sandbox.stripe.models import DisputeSeed
from sandbox.stripe.spec import Json, StripeFail
from sandbox.stripe.store import _AccountCore, _new_id

if TYPE_CHECKING:
    from sandbox.stripe.state import FakeStripeState


class _Charges(_AccountCore):
    def _new_charge(self, seed: DisputeSeed, currency: str, now: int) -> tuple[Json, Json | None]:
        metadata = dict(seed.charge_metadata)
        if seed.order_id is not None:
            metadata.setdefault("order_id", seed.order_id)
        amount = seed.charge_amount or seed.amount
        charge_id = _new_id("ch")
        intent: Json | None = None
        if seed.with_payment_intent:
            intent_metadata = dict(metadata if seed.payment_intent_metadata is None else seed.payment_intent_metadata)
            intent = {
                "id": _new_id("pi"),
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount,
                "capture_method": "automatic",
                "confirmation_method": "automatic",
                "created": now,
                "currency": currency,
                "description": seed.description,
                "latest_charge": charge_id,
                "livemode": False,
                "metadata": intent_metadata,
                "payment_method_types": ["card"],
                "receipt_email": seed.receipt_email,
                "status": "succeeded",
            }
            self.payment_intents[intent["id"]] = intent
        charge: Json = {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": 0,
            "balance_transaction": _new_id("txn"),
            "billing_details": {"address": None, "email": seed.receipt_email, "name": seed.billing_name, "phone": None},
            "captured": True,
            "created": now,
            "currency": currency,
            "customer": None,
            "description": seed.description,
            "disputed": False,
            "livemode": False,
            "metadata": metadata,
            "paid": True,
            "payment_intent": intent["id"] if intent is not None else None,
            "payment_method_details": _card_details(seed),
            "receipt_email": seed.receipt_email,
            "receipt_number": None,
            "refunded": False,
            "status": "succeeded",
        }
        self.charges[charge_id] = charge
        return charge, intent


def _card_details(seed: DisputeSeed) -> Json:
    """`payment_method_details` of a card charge, with the fields spec3.yaml declares for
    `payment_method_details_card` (the checks and the 3D Secure result included)."""
    checks = {"address_line1_check": seed.address_line1_check,
              "address_postal_code_check": seed.address_postal_code_check, "cvc_check": seed.cvc_check}
    return {
        "type": "card",
        "card": {
            "brand": seed.brand,
            "checks": checks,
            "country": seed.card_country,
            "exp_month": 12,
            "exp_year": 2030,
            "fingerprint": hashlib.sha256(f"{seed.brand}{seed.last4}".encode()).hexdigest()[:16],
            "funding": "credit",
            "installments": None,
            "last4": seed.last4,
            "mandate": None,
            "network": seed.brand,
            "network_token": None,
            "three_d_secure": seed.three_d_secure.model_dump() if seed.three_d_secure is not None else None,
            "wallet": None,
        },
    }


def _expand(state: FakeStripeState, obj: Json, expand: Sequence[str]) -> Json:
    out = copy.deepcopy(obj)
    stores = {"charge": state.charges, "payment_intent": state.payment_intents}
    for name in expand:
        store = stores.get(name)
        if store is not None and isinstance(out.get(name), str) and out[name] in store:
            out[name] = copy.deepcopy(store[out[name]])
    return out


def get_charge(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    charge = state.charges.get(path["charge"])
    if charge is None:
        raise StripeFail(404, f"No such charge: '{path['charge']}'", code="resource_missing", param="charge")
    return _expand(state, charge, query.get("expand") or [])


def get_payment_intent(state: FakeStripeState, path: dict[str, str], query: Json, params: Json) -> Json:
    intent = state.payment_intents.get(path["intent"])
    if intent is None:
        raise StripeFail(404, f"No such payment_intent: '{path['intent']}'", code="resource_missing", param="intent")
    return copy.deepcopy(intent)
