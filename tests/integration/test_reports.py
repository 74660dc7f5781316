"""The weekly report from a real ledger (SQLite and PostgreSQL): known cases, refunds, deadlines,
supplier answers and disputes in, exact figures, CSV files and PNG charts out (A1, A2, K7); the
store's order count (`ordersCount`) against the fake store; the operator's download endpoints."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import matplotlib.image
import pytest

from deployments.setup import DEFAULT_POLICY, read_policy
from domain.money import Money
from domain.orders import Customer, LineItem, Order
from domain.policy import StorePolicy
from domain.reports import (
    MonthSales,
    Report,
    ReportPolicy,
    build_report,
    iso_week,
    load_since,
    months,
    tables,
)
from ledger import cases, deadlines, operations, records
from ledger.db import Database
from ledger.models import RefundRecord, set_clock
from ledger.reports import case_facts, cases_for_report
from sandbox.shopify import FakeShopifyServer
from tasks.reports import csv_text, render_charts, report_file, report_index, write_report
from tests.integration import shopify_fixtures as sf
from tests.integration.shopify_fixtures import (  # noqa: F401 - fixtures, registered by import
    control_fixture,
    http_fixture,
    store_fixture,
)

STORE = "maison-lumiere.myshopify.com"
WEEK = iso_week(date(2026, 3, 18), "Europe/Paris")  # 2026-W12: 16 to 22 March, UTC+1
LAMP = ("Lampe Atlas", "ATL-LAMP", "Luminaires")  # atelier-lyon (ATL- prefix)
NOVA = ("Applique Nova", "ATL-NOVA", "Luminaires")
VASE = ("Vase Cérès", "CJ-VASE", "Déco")  # cj (CJ- prefix)
MUG = ("Mug Terra", "CJ-MUG", "Cuisine")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def at(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


@pytest.fixture
def clock() -> Iterator[Any]:
    class Clock:
        def __call__(self, moment: datetime) -> None:
            set_clock(lambda: moment)

    yield Clock()
    set_clock(None)


@pytest.fixture
def policy() -> StorePolicy:
    sandbox = read_policy(DEFAULT_POLICY)
    return sandbox.model_copy(update={"reports": ReportPolicy(supplier_late_answers=1)})


def order(number: int, created: datetime, *items: tuple[str, str, str]) -> Order:
    zero = Money.of("0", "EUR")
    lines = [LineItem(id=f"gid://shopify/LineItem/{number}{i}", title=title, sku=sku, product_type=kind, quantity=1,
                      current_quantity=1, unfulfilled_quantity=1, refundable_quantity=1,
                      unit_price=Money.of("10", "EUR")) for i, (title, sku, kind) in enumerate(items)]
    return Order(id=f"gid://shopify/Order/{number}", legacy_id=str(number), name=f"#{number}", email=None,
                 customer=Customer(), created_at=created, currency="EUR", fulfillment_status="UNFULFILLED",
                 total_price=zero, total_received=zero, total_refunded=zero, line_items=lines)


def line(number: int, i: int = 0) -> str:
    return f"gid://shopify/LineItem/{number}{i}"


ORDERS = {o.legacy_id: o for o in (
    order(1001, at(16, 8), LAMP),
    order(1002, at(15, 22), LAMP, VASE),
    order(1003, at(1), LAMP),
    order(1004, at(2), LAMP),
    order(1005, at(3), VASE),
    order(1006, at(20, month=2), NOVA),
    order(1007, at(1), MUG),
)}  # #1008 is not in the store any more: its dispute keeps the ledger's facts


async def _open(db: Database, clock: Any, number: int, kind: str, state: str, reason: str, opened: datetime,
                data: dict[str, Any], *, store: str = STORE, suffix: str = "") -> str:
    clock(opened)
    case, _ = await cases.open_case(db, key=f"{kind}:{store}:{number}{suffix}", kind=kind, store_id=store,
                                    state=state, order_ref=str(number), order_name=f"#{number}", reason=reason,
                                    data=data)
    return case.id


async def _deadline(db: Database, clock: Any, case_id: str, kind: str, created: datetime, due: datetime,
                    resolved: tuple[str, datetime] | None = None) -> None:
    clock(created)
    await deadlines.set_deadline(db, case_id=case_id, kind=kind, due_at=due, act_at=due, action="-")
    if resolved is not None:
        clock(resolved[1])
        await deadlines.resolve_deadline(db, case_id=case_id, kind=kind, status=resolved[0])


async def _refund(db: Database, case_id: str, number: int, amount: str, when: datetime) -> None:
    await records.archive_refund(db, RefundRecord(
        case_id=case_id, operation_id=f"op-{case_id}-{amount}", store_id=STORE, order_id=f"gid://shopify/Order/{number}",
        amount=amount, currency="EUR", method="original", reason="test", created_at=when))


async def _succeeded(db: Database, clock: Any, case_id: str, key: str, kind: str, result: dict[str, Any],
                     when: datetime) -> None:
    clock(when)
    op = await operations.plan_operation(db, natural_key=key, kind=kind, vendor=kind.split(".")[-1], case_id=case_id,
                                         request={})
    await operations.record_success(db, op.id, result=result)


async def _close(db: Database, clock: Any, case_id: str, when: datetime) -> None:
    clock(when)
    await cases.update_case(db, case_id, closed=True)


def _view(processor: str, dispute_id: str, status: str, reason: str, amount: str, submitted: bool) -> dict[str, Any]:
    return {"processor": processor, "dispute_id": dispute_id, "status": status, "raw_status": status,
            "reason": reason, "amount": eur(amount), "submitted": submitted, "order_hints": {}}


async def build_ledger(db: Database, clock: Any) -> dict[str, str]:
    """Nine cases around 2026-W12, one of another store and one closed long ago."""
    ids: dict[str, str] = {}
    # Cancellation #1001: 2 h after the order, the email supplier answers in 6 h, refunded at once.
    ids["c1"] = c1 = await _open(db, clock, 1001, "cancellation", "closed", "changed_mind", at(16, 10), {
        "plan": {"kind": "full", "line_item_ids": [line(1001)],
                 "suppliers": [{"supplier_id": "atelier-lyon", "line_item_ids": [line(1001)]}]},
        "suppliers_asked": {"atelier-lyon": {"request": {"items": [{"line_item_id": line(1001),
                                                                    "title": "Lampe Atlas"}]}}}})
    await _deadline(db, clock, c1, "supplier_answer:atelier-lyon", at(16, 10), at(17, 10), ("met", at(16, 16)))
    await _deadline(db, clock, c1, "legal_refund", at(16, 10), at(30, 22), ("met", at(16, 18)))
    await _refund(db, c1, 1001, "59.90", at(16, 18))
    await _close(db, clock, c1, at(16, 18))
    # Cancellation #1002: the vase is out of stock at CJ (partial, C5), CJ silent, then credits 8.50.
    ids["c2"] = c2 = await _open(db, clock, 1002, "cancellation", "closed", "supplier_out_of_stock", at(17, 22), {
        "plan": {"kind": "partial", "line_item_ids": [line(1002, 1)],
                 "suppliers": [{"supplier_id": "cj", "line_item_ids": [line(1002, 1)]}]},
        "supplier_answers": {"cj": {"answer": "accepted", "note": "refunded to the CJ balance",
                                    "at": "2026-03-20T09:00:00+00:00", "refund": eur("8.50")}}})
    await _deadline(db, clock, c2, "supplier_answer:cj", at(17, 22), at(19, 22), ("acted", at(19, 22)))
    await _deadline(db, clock, c2, "legal_refund", at(17, 22), at(31, 22), ("met", at(18, 9)))
    await _refund(db, c2, 1002, "24.90", at(18, 9))
    await _close(db, clock, c2, at(20, 9))
    # Return #1003 not as described: the supplier answers after 48 h (due 24 h), refund 11 h late on the promise.
    ids["r1"] = r1 = await _open(db, clock, 1003, "return", "done", "not_as_described", at(16, 12),
                                 {"lines": {line(1003): 1}, "supplier_id": "atelier-lyon"})
    await _deadline(db, clock, r1, "supplier_answer:atelier-lyon", at(16, 12), at(17, 12), ("met", at(18, 12)))
    await _deadline(db, clock, r1, "store_promise", at(18, 12), at(19, 23), ("met", at(20, 10)))
    await _deadline(db, clock, r1, "legal_refund", at(18, 12), at(20, 23), ("met", at(20, 10)))
    await _refund(db, r1, 1003, "149.00", at(20, 10))
    # Return #1004 not as described again: the refund is still owed past both dates.
    ids["r2"] = r2 = await _open(db, clock, 1004, "return", "in_transit", "not_as_described", at(18, 9),
                                 {"lines": {line(1004): 1}, "supplier_id": "atelier-lyon"})
    await _deadline(db, clock, r2, "store_promise", at(18, 9), at(20, 23))
    await _deadline(db, clock, r2, "legal_refund", at(18, 9), at(21, 23))
    # Return #1005 damaged, kept by the customer: CJ credits 15.00 (its dispute's result).
    ids["r3"] = r3 = await _open(db, clock, 1005, "return", "replacing", "damaged", at(19, 9),
                                 {"lines": {line(1005): 1}, "supplier_id": "cj"})
    await _succeeded(db, clock, r3, f"supplier.return:{r3}:cj", "supplier.return.cj",
                     {"answer": "accepted", "refund": eur("15.00")}, at(20, 12))
    # A return of the week before (the trend only).
    await _open(db, clock, 1004, "return", "closed", "wrong_size", at(10, 9), {"lines": {line(1004): 1}},
                suffix=":2")
    # Dispute #1006 opened on 5 March (March's ratio), contested (submitted once), won on 18 March.
    ids["d1"] = d1 = await _open(db, clock, 1006, "dispute", "won", "fraudulent", at(5), {
        "processor": "stripe", "view": _view("stripe", "dp_1", "won", "fraudulent", "79.90", False)})
    await _succeeded(db, clock, d1, f"dispute.submit:{d1}", "dispute.submit.stripe", {"submitted": True}, at(6))
    await _close(db, clock, d1, at(18))
    # Dispute #1007 not received, submitted at the processor, lost on 21 March.
    ids["d2"] = d2 = await _open(db, clock, 1007, "dispute", "lost", "not_received", at(17), {
        "processor": "stripe", "view": _view("stripe", "dp_2", "lost", "product_not_received", "45.00", True)})
    await _close(db, clock, d2, at(21))
    # Dispute #1008 accepted (K4): the store no longer has the order; the ledger's facts name the product.
    ids["d3"] = d3 = await _open(db, clock, 1008, "dispute", "accepted", "not_received", at(20), {
        "processor": "shopify_payments", "facts": {"product_titles": ["Bougie Lune"]},
        "view": _view("shopify_payments", "gid://shopify/ShopifyPaymentsDispute/3", "accepted", "PRODUCT_NOT_RECEIVED",
                      "30.00", False)})
    await _close(db, clock, d3, at(20, 13))
    # Not read: closed long ago, or another store's.
    old = await _open(db, clock, 990, "return", "closed", "damaged", at(5, month=1), {})
    await _close(db, clock, old, at(10, month=1))
    await _open(db, clock, 1001, "cancellation", "received", "changed_mind", at(18), {}, store="other.myshopify.com")
    return ids


async def _report(db: Database, policy: StorePolicy) -> tuple[Report, int]:
    rows = await cases_for_report(db, store_id=STORE, since=load_since(WEEK, policy.reports.trend_weeks),
                                  start=WEEK.start, end=WEEK.end)
    facts = await case_facts(db, rows, policy=policy, orders=ORDERS)
    sales = [MonthSales(month="2026-03", orders=400, previous_month_orders=380)]
    return build_report(facts, WEEK, sales=sales, policy=policy.reports), len(rows)


async def test_the_weekly_report_reads_the_ledger_figures_exactly(any_db: Database, clock: Any,
                                                                  policy: StorePolicy) -> None:
    await build_ledger(any_db, clock)
    report, read = await _report(any_db, policy)
    views = {t.name: t for t in tables(report)}

    assert read == 9  # not the January case, not the other store's
    assert report.opened == {"cancellation": 2, "return": 3, "dispute": 2}
    assert [r[1:] for r in views["reasons"].rows if r[0] == "product"] == [
        ["Lampe Atlas", "return", "not_as_described", "2"],
        ["Bougie Lune", "dispute", "not_received", "1"],
        ["Lampe Atlas", "cancellation", "changed_mind", "1"],
        ["Mug Terra", "dispute", "not_received", "1"],
        ["Vase Cérès", "cancellation", "supplier_out_of_stock", "1"],
        ["Vase Cérès", "return", "damaged", "1"],
    ]
    assert [r[1:] for r in views["reasons"].rows if r[0] == "supplier"] == [
        ["atelier-lyon", "return", "not_as_described", "2"],
        ["(unknown)", "dispute", "not_received", "1"],
        ["atelier-lyon", "cancellation", "changed_mind", "1"],
        ["cj", "cancellation", "supplier_out_of_stock", "1"],
        ["cj", "dispute", "not_received", "1"],
        ["cj", "return", "damaged", "1"],
    ]
    assert [r[1:] for r in views["reasons"].rows if r[0] == "category"][:2] == [
        ["Luminaires", "return", "not_as_described", "2"], ["(unknown)", "dispute", "not_received", "1"]]
    assert ["2026-W11", "return", "wrong_size", "1"] in views["reasons_by_week"].rows
    assert views["cancellation_delay"].rows == [["2", "25.0", "48.0"]]  # 2 h and 48 h
    assert views["stockouts"].rows == [["cj", "1", "1"]]
    assert views["supplier_answers"].rows == [["atelier-lyon", "2", "2", "27.0", "1", "0"],
                                              ["cj", "1", "0", "", "0", "1"]]
    assert views["refunds"].rows == [
        # the cancellation's promise is the date it was told: 5 business days from Monday 16 = Monday 23
        ["#1001", "cancellation", "changed_mind", "59.90", "2026-03-16 19:00", "2026-03-23", "on time", "-7.2",
         "2026-03-30", "on time", "-14.2"],
        ["#1002", "cancellation", "supplier_out_of_stock", "24.90", "2026-03-18 10:00", "2026-03-24", "on time",
         "-6.6", "2026-03-31", "on time", "-13.5"],
        ["#1003", "return", "not_as_described", "149.00", "2026-03-20 11:00", "2026-03-19", "late", "0.5",
         "2026-03-20", "on time", "-0.5"],
        ["#1004", "return", "not_as_described", "", "", "2026-03-20", "owed, late", "2.0", "2026-03-21",
         "owed, late", "1.0"],
    ]
    assert [(s.refunds, s.late, s.share_late, s.owed_late) for s in report.refund_stats] == [
        (3, 1, Decimal(1) / Decimal(3), 1), (3, 0, Decimal(0), 1)]
    assert views["chargeback_ratio"].rows[0][:6] == ["2026-03", "3", "400", "0.75%", "ok", "ok"]
    assert views["disputes"].rows == [
        ["fraudulent", "1", "1", "0", "0", "100.0%", "79.90", "79.90", "100.0%"],
        ["not_received", "2", "0", "1", "1", "0.0%", "75.00", "0.00", "0.0%"],
        ["all", "3", "1", "1", "1", "50.0%", "154.90", "79.90", "51.6%"],
    ]
    # issue 17: the accountant's net loss. The two cancellations never shipped: their refunds give back
    # payments for goods never sent (and CJ's 8.50 credit only repays CJ's price): not a loss
    assert views["losses"].rows == [
        ["#1003", "return", "not_as_described", "149.00", "0.00", "0.00", "0.00", "0.00", "149.00", ""],
        ["#1007", "dispute", "not_received", "0.00", "0.00", "45.00", "15.00", "0.00", "60.00", ""],
        ["#1008", "dispute", "not_received", "0.00", "0.00", "30.00", "0.00", "0.00", "30.00", ""],
        ["#1006", "dispute", "fraudulent", "0.00", "0.00", "0.00", "15.00", "0.00", "15.00", ""],
        ["#1001", "cancellation", "changed_mind", "59.90", "59.90", "0.00", "0.00", "0.00", "0.00", ""],
        ["#1002", "cancellation", "supplier_out_of_stock", "24.90", "24.90", "0.00", "0.00", "0.00", "0.00", ""],
        ["#1005", "return", "damaged", "0.00", "0.00", "0.00", "0.00", "15.00", "-15.00", ""],
    ]
    assert views["loss_totals"].rows == [
        ["cancellation", "2", "84.80", "84.80", "0.00", "0.00", "0.00", "0.00"],
        ["return", "2", "149.00", "0.00", "0.00", "0.00", "15.00", "134.00"],
        ["dispute", "3", "0.00", "0.00", "75.00", "30.00", "0.00", "105.00"],
        ["all", "7", "233.80", "84.80", "75.00", "30.00", "15.00", "239.00"],
    ]
    assert views["products_to_fix"].rows == [
        ["Lampe Atlas", "2 returns 'not_as_described': check the description (R9)"]]
    assert views["suppliers_to_question"].rows == [
        ["atelier-lyon", "1 of 2 requests answered late (1) or not in time (0) (A1, D3)"],
        ["cj", "1 of 1 requests answered late (0) or not in time (1) (A1, D3)"],
    ]
    assert report.notes == []


async def test_the_csv_files_and_the_charts_hold_the_same_figures(db: Database, clock: Any, policy: StorePolicy,
                                                                  tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_REPORTS_DIR", str(tmp_path))
    await build_ledger(db, clock)
    report, _ = await _report(db, policy)
    views = tables(report)
    charts = render_charts(report)

    names = write_report.fn(WEEK.label, views, charts)

    folder = tmp_path / "2026-W12"
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    for table in views:
        raw = (folder / f"{table.name}.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # a spreadsheet reads the accents
        assert list(csv.reader(io.StringIO(raw.decode("utf-8-sig")))) == [table.columns, *table.rows]
    summary = {row[0]: row[1] for row in csv.reader(io.StringIO((folder / "summary.csv").read_text("utf-8-sig")))}
    assert summary["refunds late against the store's promise"] == "1 of 3 (33.3%)"
    assert summary["refunds owed past the legal date at the end of the week"] == "1"
    assert summary["chargeback ratio 2026-03"] == "0.75% (3 / 400 orders)"
    assert summary["net loss (all, EUR)"] == "239.00"  # the cancellations never shipped: not a loss
    # the same tables for a French spreadsheet: `;`, a decimal comma (12,50; 0,75 %), every row whole
    for table in views:
        fr = list(csv.reader(io.StringIO((folder / f"{table.name}_fr.csv").read_text("utf-8-sig")), delimiter=";"))
        assert fr[0] == table.columns and len(fr) == len(table.rows) + 1
        assert all(len(row) == len(table.columns) for row in fr)
    fr_summary = {row[0]: row[1] for row in csv.reader(
        io.StringIO((folder / "summary_fr.csv").read_text("utf-8-sig")), delimiter=";")}
    assert fr_summary["net loss (all, EUR)"] == "239,00"
    assert fr_summary["order to cancellation, median (hours)"] == "25,0"
    fr_disputes = list(csv.reader(io.StringIO((folder / "disputes_fr.csv").read_text("utf-8-sig")), delimiter=";"))
    assert fr_disputes[-1][5] == "50,0\u00a0%" and fr_disputes[-1][6] == "154,90"
    assert summary["order to cancellation, median (hours)"] == "25.0"
    for name in ("reasons_by_week.png", "refund_delays.png", "dispute_outcomes.png"):
        png = (folder / name).read_bytes()
        assert png.startswith(PNG_SIGNATURE) and png == charts[name]
        assert matplotlib.image.imread(folder / name).shape == (400, 800, 4)
    assert render_charts(report) == charts  # deterministic: the same report, the same bytes
    assert report_index(tmp_path) == [{"week": "2026-W12", "files": sorted(names)}]
    assert report_file("2026-W12", "summary.csv", tmp_path) == folder / "summary.csv"
    assert report_file("2026-W12", "../summary.csv", tmp_path) is None
    assert report_file("..", "summary.csv", tmp_path) is None


async def test_the_operator_downloads_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deployments.receiver import ReceiverSettings, create_app
    from domain.reports import Table

    monkeypatch.setenv("AFTERSALES_REPORTS_DIR", str(tmp_path))
    table = Table(name="summary", title="Headline figures", columns=["figure", "value", "rule"],
                  rows=[["period", "2026-W12", "A2"]])
    write_report.fn("2026-W12", [table], {"refund_delays.png": PNG_SIGNATURE + b"chart"})
    app = create_app(ReceiverSettings(), emit_loop=False)
    token = {"Authorization": "Bearer sandbox-operator-token"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as client:
        assert (await client.get("/operator/reports")).status_code == 401
        listed = await client.get("/operator/reports", headers=token)
        assert listed.json() == [{"week": "2026-W12", "files": ["refund_delays.png", "summary.csv",
                                                                "summary_fr.csv"]}]
        got = await client.get("/operator/reports/2026-W12/summary.csv", headers=token)
        assert got.status_code == 200 and got.headers["content-type"] == "text/csv; charset=utf-8"
        assert "2026-W12-summary.csv" in got.headers["content-disposition"]
        assert got.content.decode("utf-8-sig") == csv_text(table)
        chart = await client.get("/operator/reports/2026-W12/refund_delays.png", headers=token)
        assert chart.headers["content-type"] == "image/png" and chart.content == PNG_SIGNATURE + b"chart"
        assert (await client.get("/operator/reports/2026-W12/summary.csv")).status_code == 401
        for path in ("/operator/reports/2026-W11/summary.csv", "/operator/reports/2026-W12/summary.txt",
                     "/operator/reports/2026-W12/..%2Fsummary.csv", "/operator/reports/..%2F..%2Fetc/passwd"):
            assert (await client.get(path, headers=token)).status_code == 404, path


# -- K7: the month's sales from the store ----------------------------------------------------------------


async def test_the_store_counts_the_orders_of_a_month(store: FakeShopifyServer, http: httpx.AsyncClient,
                                                     control: sf.Control) -> None:
    week = iso_week(date(2026, 3, 30), "Europe/Paris")  # 30 March to 5 April: two months, summer time
    march, april = months(week)
    placed = [datetime(2026, 2, 28, 22, 59, tzinfo=UTC),  # 23:59 in Paris: February
              datetime(2026, 2, 28, 23, 0, tzinfo=UTC),  # midnight in Paris: March
              datetime(2026, 3, 15, 9, tzinfo=UTC), datetime(2026, 3, 31, 21, 59, tzinfo=UTC),
              datetime(2026, 3, 31, 22, 0, tzinfo=UTC),  # midnight in Paris, summer time: April
              datetime(2026, 4, 5, 21, 59, tzinfo=UTC), datetime(2026, 4, 5, 22, 0, tzinfo=UTC)]  # after the week
    for n, when in enumerate(placed):
        await control.seed(sf.two_item_order(3001 + n, created_at=when.isoformat(), placed_hours_ago=None))

    client = sf.make_client(store, http, sf.RecordingSleep())
    counts = [(await client.orders.count(start, end)) for start, end in (
        (march.start, march.end), (march.previous_start, march.start), (april.start, april.end),
        (april.previous_start, april.start))]
    with pytest.raises(ValueError, match="timezone-aware"):
        await client.orders.count(datetime(2026, 3, 1), march.end)

    assert april.end == week.end  # April to date: the week's end
    assert [(c.count, c.exact) for c in counts] == [(3, True), (1, True), (2, True), (3, True)]
    [call, *_] = await control.calls("ordersCount")
    assert call["variables"]["query"] == "created_at:>=2026-02-28T23:00:00Z created_at:<2026-03-31T22:00:00Z"
