"""weekly-report: the lessons of the week, rules A1, A2 and K7 (../shared/PROCESSES.md).

Every Monday (prefect.yaml) it reads the last full ISO week in the store's timezone: the cases
from the ledger, their orders and the month's order count from the store. It computes the
figures (`domain.reports`), draws the charts, writes one CSV per table for the accountant
(`tasks.reports`), and publishes in the Prefect UI, where the operator looks (A2): the markdown
artifact `weekly-report` (headline figures, tables, charts embedded as PNG data URIs) and the
table artifacts `weekly-report-reasons` and `weekly-report-disputes`. Every view is made from the
same `domain.reports.tables`, so the UI and the CSV files show the same figures.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date
from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.logging import get_run_logger

from domain.business_days import local_date
from domain.errors import IntegrationError
from domain.policy import StorePolicy
from domain.reports import (
    ALL,
    NET_LOSS_DEFINITION,
    MonthSales,
    Period,
    Report,
    Table,
    build_report,
    calendar_month,
    iso_week,
    last_full_month,
    last_full_week,
    load_since,
    months,
    tables,
)
from ledger import reports as ledger_reports
from ledger.models import utcnow
from tasks import runtime
from tasks.reports import count_orders, read_orders, render_charts, reports_dir, write_report

CHART_TITLES = {
    "reasons_by_week.png": "Reasons by week",
    "refund_delays.png": "Refund delays against the promise and the legal date",
    "dispute_outcomes.png": "Dispute outcomes by reason",
}


async def _sales(period: Period) -> list[MonthSales]:
    """K7: the store's orders over each month the period touches (to the period's end), and over
    the month before (Mastercard's base). A month the store cannot count gets no ratio."""
    found = []
    for month in months(period):
        try:
            current = await count_orders(month.start, month.end)
            previous = await count_orders(month.previous_start, month.start)
        except IntegrationError as exc:
            get_run_logger().warning("order count for %s not available: %s", month.label, exc)
            continue
        found.append(MonthSales(month=month.label, orders=current.count, previous_month_orders=previous.count,
                                exact=current.exact and previous.exact))
    return found


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ") or " "


def _markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> list[str]:
    if not rows:
        return [f"_{empty}_", ""]
    return [f"| {' | '.join(_cell(c) for c in columns)} |", f"|{'---|' * len(columns)}",
            *(f"| {' | '.join(_cell(v) for v in row)} |" for row in rows), ""]


def _image(name: str, png: bytes) -> list[str]:
    return [f"![{CHART_TITLES[name]}](data:image/png;base64,{base64.b64encode(png).decode()})", ""]


def markdown(report: Report, policy: StorePolicy, views: Sequence[Table], charts: dict[str, bytes]) -> str:
    """The `weekly-report` artifact: headline first, then each table with its chart."""
    by_name = {t.name: t for t in views}
    p = report.period

    def section(name: str, empty: str) -> list[str]:
        table = by_name[name]
        rows = table.rows
        if name == "summary":  # long sentences go under the table, where nothing cuts them off
            rows = [r for r in rows if r[0] not in ("note", "net loss: definition")]
        return _markdown_table(table.columns, rows, empty)

    reasons = by_name["reasons"]
    net = next((t.net.amount for t in report.loss_totals if t.process == ALL), 0)
    promise, legal = (next(s for s in report.refund_stats if s.against == a) for a in ("promise", "legal"))
    lines = [
        f"# Weekly report {p.label} — {policy.store.name}",
        "",
        f"{p.first_day:%A %d %B %Y} to {p.last_day:%A %d %B %Y} ({p.tz}) · opened: "
        + ", ".join(f"{kind}s {n}" for kind, n in report.opened.items()),
        "",
        f"**Net loss** {net} {report.currency} (as the accountant counts it: see Net loss) · "
        f"**refunds late against the promise** {promise.late} of "
        f"{promise.refunds} · **still owed past the legal date** {legal.owed_late} · **products to fix** "
        f"{len(report.products_to_fix)} · **suppliers to question** {len(report.suppliers_to_question)}",
        "",
        "## Headline figures",
        "",
        *section("summary", "no figures"),
        *([f"- {note}" for note in report.notes] + [""] if report.notes else []),
        "## Products to fix (R9)",
        "",
        *section("products_to_fix", "no product drew repeated returns or chargebacks this week"),
        "## Suppliers to question (A1)",
        "",
        *section("suppliers_to_question", "no supplier stands out this week"),
        "## Reasons (A1)",
        "",
        *_image("reasons_by_week.png", charts["reasons_by_week.png"]),
    ]
    for by in ("product", "category", "supplier"):
        lines += [f"### By {by}", ""]
        lines += _markdown_table(reasons.columns[1:], [r[1:] for r in reasons.rows if r[0] == by],
                                 "no case opened this week")
    lines += [
        "## Cancellations: delay from the order, stock-outs (A1, C5)", "",
        *section("cancellation_delay", "no cancellation"),
        *section("stockouts", "no stock-out this week"),
        "## Supplier answers (D3)", "",
        *section("supplier_answers", "no supplier was asked this week"),
        "## Refunds against the promise (F4) and the legal date (D2)", "",
        *_image("refund_delays.png", charts["refund_delays.png"]),
        *section("refunds", "no refund made or owed this week"),
        "## Chargebacks (K7)", "",
        *section("chargeback_ratio", "the store's order count was not available"),
        *_image("dispute_outcomes.png", charts["dispute_outcomes.png"]),
        *section("disputes", "no dispute decided this week"),
        "## Net loss (A1)",
        "",
        NET_LOSS_DEFINITION,
        "",
        *section("loss_totals", "no money moved this week"),
        *section("losses", "no money moved this week"),
        "## Files",
        "",
        f"Each table as two CSV files, in `{reports_dir() / p.label}`: `<table>.csv` (`,` between cells, `.` "
        f"for decimals) and `<table>_fr.csv` for a French spreadsheet (`;` between cells, `,` for decimals), "
        f"and the charts; the operator downloads them with `GET /operator/reports/{p.label}/<file>` (operator "
        f"token).",
    ]
    return "\n".join(lines)


async def _publish(report: Report, policy: StorePolicy, views: Sequence[Table], charts: dict[str, bytes]) -> None:
    by_name = {t.name: t for t in views}
    label = report.period.label
    try:
        await acreate_markdown_artifact(markdown=markdown(report, policy, views, charts), key="weekly-report",
                                        description=f"Weekly report {label}: headline figures, tables and charts")
        for name, what in (("reasons", "reasons by product, category and supplier (A1)"),
                           ("disputes", "dispute outcomes by reason (K7)")):
            table = by_name[name]
            await acreate_table_artifact(table=table.records() or [{table.columns[0]: "nothing this week"}],
                                         key=f"weekly-report-{name}", description=f"Weekly report {label}: {what}")
    except Exception as exc:  # the artifacts are a view; the files and the ledger remain
        get_run_logger().warning("could not publish the weekly report artifacts: %r", exc)


@flow(name="weekly-report", log_prints=False)
async def weekly_report(store_id: str | None = None, week_ending: date | None = None) -> dict[str, Any]:
    """A1, A2, K7: the report of the ISO week holding `week_ending` (default: the last full week in
    the store's timezone)."""
    logger = get_run_logger()
    store = store_id or runtime.store_id()
    policy = await runtime.load_policy(store)
    tz = policy.store.timezone
    period = iso_week(week_ending or last_full_week(local_date(utcnow(), tz)), tz)
    db = runtime.db()
    since = load_since(period, policy.reports.trend_weeks)
    rows = await ledger_reports.cases_for_report(db, store_id=store, since=since, start=period.start, end=period.end)
    try:
        orders = await read_orders(sorted({c.order_ref for c in rows if c.order_ref}))
    except IntegrationError as exc:
        logger.warning("the store's orders could not be read (%s): the report uses the ledger's facts only", exc)
        orders = {}
    facts = await ledger_reports.case_facts(db, rows, policy=policy, orders=orders)
    report = build_report(facts, period, sales=await _sales(period), policy=policy.reports)
    views = tables(report)
    charts = render_charts(report)
    files = write_report(period.label, views, charts)
    await _publish(report, policy, views, charts)
    logger.info("weekly report %s: %d cases read, %d files written", period.label, len(rows), len(files))
    return {"week": period.label, "cases": len(rows), "files": files, "notes": report.notes}


@flow(name="monthly-chargebacks", log_prints=False)
async def monthly_chargebacks(store_id: str | None = None, month_of: date | None = None) -> dict[str, Any]:
    """K7: the month's chargeback ratio against Visa VAMP and Mastercard ECM, with the win rate and
    the recovery rate by reason (default: the last full calendar month, in the store's timezone).
    The same computation as the weekly report's K7 section, over the whole month."""
    store = store_id or runtime.store_id()
    policy = await runtime.load_policy(store)
    period = calendar_month(month_of or last_full_month(local_date(utcnow(), policy.store.timezone)),
                            policy.store.timezone)
    db = runtime.db()
    rows = await ledger_reports.cases_for_report(db, store_id=store, since=period.start, start=period.start,
                                                 end=period.end)
    facts = await ledger_reports.case_facts(db, rows, policy=policy, orders={})
    report = build_report(facts, period, sales=await _sales(period), policy=policy.reports)
    views = [t for t in tables(report) if t.name in ("chargeback_ratio", "disputes")]
    files = write_report(period.label, views, {})
    by_name = {t.name: t for t in views}
    ratio, disputes = by_name["chargeback_ratio"], by_name["disputes"]
    text = "\n".join([
        f"# Chargebacks {period.label} — {policy.store.name} (K7)", "",
        "The month's disputes against its orders, compared with the card networks' monitoring programmes "
        "(INTEGRATIONS.md 6: Visa VAMP, Mastercard ECM); then what contesting brought back, by reason.", "",
        "## Ratio", "", *_markdown_table(ratio.columns, ratio.rows, "the store's order count was not available"),
        "## Win rate and recovery rate by reason", "",
        *_markdown_table(disputes.columns, disputes.rows, "no dispute decided this month"),
    ])
    try:
        await acreate_markdown_artifact(markdown=text, key="monthly-chargebacks",
                                        description=f"Chargebacks {period.label}: ratio, win and recovery rates (K7)")
    except Exception as exc:  # the artifact is a view; the files and the ledger remain
        get_run_logger().warning("could not publish the monthly chargebacks artifact: %r", exc)
    return {"month": period.label, "cases": len(rows), "files": files,
            "ratio": [dict(zip(ratio.columns, r, strict=True)) for r in ratio.rows]}
