"""weekly-report end to end (A1, A2, K7): real cancellations through process-cancellation, then
the report of the week read from the ledger and the fake store, published as Prefect artifacts
and written as CSV and PNG files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from domain.business_days import local_date
from domain.reports import iso_week, months
from flows.cancellation import process_cancellation
from flows.reports import weekly_report
from flows.sweep import sweep_deadlines
from ledger import cases, records
from ledger.models import utcnow
from tasks.store import read_shopify_order
from tests.flows.conftest import World

STORE = "maison-lumiere.myshopify.com"
TZ = "Europe/Paris"


async def _artifact(key: str) -> Any:
    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert found, f"no artifact {key}"
    return max(found, key=lambda a: a.created)


def _csv(folder: Path, name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO((folder / f"{name}.csv").read_text(encoding="utf-8-sig"))))


@pytest.mark.timeout(300)  # two cancellations, a deadline check and the report, each a flow run
async def test_the_weekly_report_reads_what_the_processes_wrote(world: World, db: Any, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_REPORTS_DIR", str(tmp_path))
    asked = await world.cancel("#1001", "changed_mind")
    assert await process_cancellation(inbound_event_id=asked.json()["event_id"]) == "closed"
    [missing] = [li["sku"] for li in (await world.raw_order("#1004"))["line_items"]][:1]
    stock = await world.operator("/operator/out-of-stock", {"order_number": "#1004", "skus": [missing]})
    assert await process_cancellation(inbound_event_id=stock.json()["event_id"]) == "awaiting_supplier"
    await world.http.post(f"{world.sandbox.cj.root_url}/_control/disputes/{world.legacy('#1004')}/resolve",
                          json={"finallyDeal": 1, "money": "9.50"})  # CJ credits the item to its balance, in USD
    assert (await sweep_deadlines(scope="deadlines"))["api_suppliers_chased"] == 1
    today = local_date(utcnow(), TZ)

    result = await weekly_report(week_ending=today)

    week = iso_week(today, TZ)
    folder = tmp_path / week.label
    assert result["week"] == week.label and result["cases"] == 2
    assert sorted(result["files"]) == sorted(p.name for p in folder.iterdir())
    assert {"reasons_by_week.png", "refund_delays.png", "dispute_outcomes.png", "summary.csv"} <= set(result["files"])
    # A1: reasons by supplier, as the policy's product rules place the lines (ATL- atelier-lyon, CJ- cj)
    reasons = _csv(folder, "reasons")
    assert [r[1:] for r in reasons if r[0] == "supplier"] == [
        ["atelier-lyon", "cancellation", "changed_mind", "1"], ["cj", "cancellation", "supplier_out_of_stock", "1"]]
    partial_title = next(li["title"] for li in (await world.raw_order("#1004"))["line_items"] if li["sku"] == missing)
    assert ["product", partial_title, "cancellation", "supplier_out_of_stock", "1"] in reasons
    assert _csv(folder, "stockouts")[1:] == [["cj", "1", "1"]]
    # F4 / D2: both refunds archived by the process, on time against the promise and the legal date
    archived = {}
    for name in ("#1001", "#1004"):
        case = await cases.latest_case(db, STORE, world.legacy(name), "cancellation")
        assert case is not None
        archived[name] = [r.amount for r in await records.refunds_for_case(db, case.id)]
    refunds = _csv(folder, "refunds")
    assert sorted((r[0], r[3], r[6], r[9]) for r in refunds[1:]) == sorted(
        (name, amount, "on time", "on time") for name, amounts in archived.items() for amount in amounts)
    # A1: the order dates come from the store; CJ answered the claim (D3) and credited 9.50 USD
    assert _csv(folder, "cancellation_delay")[1][0] == "2"
    assert _csv(folder, "supplier_answers")[1][:5] == ["cj", "1", "1", _csv(folder, "supplier_answers")[1][3], "0"]
    # issue 17: the accountant's net loss. #1004's missing item never shipped: its refund gives back a
    # payment for goods never sent, and CJ's credit for it only repays CJ's price; neither is a loss
    [partial] = [r for r in _csv(folder, "losses")[1:] if r[0] == "#1004"]
    assert partial[3:5] == [archived["#1004"][0], archived["#1004"][0]] and partial[7:] == ["0.00", "0.00", ""]
    # the same table for a French spreadsheet: `;` between cells, a decimal comma
    fr = (folder / "losses_fr.csv").read_text(encoding="utf-8-sig").splitlines()
    assert fr[0].startswith("order;process;reason;refunded (EUR);never paid out (EUR)")
    [fr_partial] = [line.split(";") for line in fr[1:] if line.startswith("#1004;")]
    assert fr_partial[3] == archived["#1004"][0].replace(".", ",") and "." not in fr_partial[3]
    # K7: the month's sales are the store's own count (ordersCount), over the month to the week's end
    month = months(week)[-1]
    placed = [(await read_shopify_order.fn(str(o["legacy_id"]))).created_at for o in world.orders.values()]
    expected = sum(1 for when in placed if month.start <= when < month.end)
    assert _csv(folder, "chargeback_ratio")[-1][:3] == [month.label, "0", str(expected)]
    assert await world.shopify_calls("ordersCount")

    # A2: shown where the operator looks
    report = await _artifact("weekly-report")
    assert report.type == "markdown"
    assert report.data.startswith(f"# Weekly report {week.label} — Maison Lumière")
    assert report.data.count("](data:image/png;base64,iVBOR") == 3
    assert "| atelier-lyon | cancellation | changed_mind | 1 |" in report.data
    table = await _artifact("weekly-report-reasons")
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert rows == [dict(zip(reasons[0], r, strict=True)) for r in reasons[1:]]
    disputes = await _artifact("weekly-report-disputes")
    assert disputes.type == "table"
