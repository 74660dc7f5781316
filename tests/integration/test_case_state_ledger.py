"""Typed case state in the ledger (issue 22): a row written before the models existed still loads,
and every write is checked against the process's model in `ledger.cases` before it is stored."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from domain.case_state import OrderData, Parcel, ReturnData, facts_of
from ledger import cases

# A return as an earlier version wrote it: no refund_method (original), a parcel noted without its
# carrier nor `not_before`, and keys no code reads any more.
OLD_RETURN = {
    "lines": {"gid://shopify/LineItem/1": "2"},
    "parcels": {"1Z999": {"role": "return", "company": "UPS", "since": "2026-01-05T10:00:00+00:00"}},
    "tracking": {"number": "1Z999", "carrier": "UPS"},
    "eligibility_note": "within 14 days",
    "legacy_flags": ["a", "b"],
}


async def _stored_as_is(db, key: str, kind: str, data: dict[str, object]):
    """A case whose `data` is put in the column by SQL, as an older version left it (no model involved)."""
    case, _ = await cases.open_case(db, key=key, kind=kind, store_id="s", state="received", order_ref="1")
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE cases SET data = :data WHERE id = :id"),
                           {"data": json.dumps(data), "id": case.id})
    return await cases.get_case(db, case.id)


async def test_a_case_row_in_the_old_shape_loads_with_the_readers_defaults(db) -> None:
    case = await _stored_as_is(db, "return:s:1", "return", OLD_RETURN)
    facts = facts_of(case.kind, case.data)
    assert isinstance(facts, ReturnData)
    assert facts.lines == {"gid://shopify/LineItem/1": 2} and facts.refund_method == "original"
    assert facts.parcels["1Z999"] == Parcel(role="return", company="UPS", since="2026-01-05T10:00:00+00:00")
    assert facts.parcels["1Z999"].carrier is None and facts.parcels["1Z999"].not_before is None
    assert facts.photos == [] and facts.received_at is None and facts.needs_delivery_date is False
    assert facts.model_extra == {"eligibility_note": "within 14 days", "legacy_flags": ["a", "b"]}


async def test_a_typed_write_to_an_old_row_keeps_what_it_does_not_name(db) -> None:
    case = await _stored_as_is(db, "return:s:2", "return", OLD_RETURN)
    case = await cases.update_case(db, case.id, data={"parcels": {"1Z999": {**OLD_RETURN["parcels"]["1Z999"],  # type: ignore[dict-item]
                                                                            "carrier": "ups"}},
                                                      "received_at": "2026-01-09T08:00:00+00:00"})
    assert case.data["eligibility_note"] == "within 14 days" and case.data["legacy_flags"] == ["a", "b"]
    assert case.data["lines"] == {"gid://shopify/LineItem/1": "2"}  # a key not written is left as stored
    # the parcel as given, no defaults added (no "lost_flagged": null)
    assert case.data["parcels"] == {"1Z999": {"role": "return", "company": "UPS",
                                              "since": "2026-01-05T10:00:00+00:00", "carrier": "ups"}}
    assert ReturnData.load(case.data).parcels["1Z999"].carrier == "ups"


async def test_a_wrong_type_for_a_named_fact_is_refused_before_anything_is_written(db) -> None:
    case = await _stored_as_is(db, "return:s:3", "return", OLD_RETURN)
    with pytest.raises(ValidationError):
        await cases.update_case(db, case.id, state="awaiting_shipment", data={"needs_delivery_date": "perhaps"})
    with pytest.raises(ValidationError):
        await cases.update_case(db, case.id, data={"parcels": {"1Z999": "UPS"}})  # a parcel is its facts
    after = await cases.get_case(db, case.id)
    assert after.data == OLD_RETURN and after.state == "received" and after.version == case.version
    with pytest.raises(ValidationError):  # the process's own model: an order's signals are a list
        await cases.open_case(db, key="order:s:4", kind="order", store_id="s", state="received", order_ref="4",
                              data={"signals": "high-risk destination"})
    assert OrderData.checked({"signals": ["high-risk destination"]}) == {"signals": ["high-risk destination"]}


@pytest.mark.parametrize(("stored", "typed", "found"), [
    ("#1022", "#1022", True), ("#1022", "1022", True),
    ("1022", "#1022", True), ("1022", " 1022 ", True),  # a store whose order prefix is empty
    ("MLB-3001", "MLB-3001", True), ("MLB-3001", "3001", False), ("#1022", "#10220", False),
])
async def test_an_order_number_finds_its_case_typed_with_or_without_the_hash(db, stored: str, typed: str,
                                                                              found: bool) -> None:
    """The operator's record names the order as they read it (flows/common.py `_order_ref_for_number`)."""
    await cases.open_case(db, key=f"return:s:{stored}", kind="return", store_id="s", state="received",
                          order_ref="9", order_name=stored)
    got = await cases.cases_by_order_name(db, "s", typed)
    assert [c.order_name for c in got] == ([stored] if found else [])
    assert await cases.cases_by_order_name(db, "another-store", typed) == []
