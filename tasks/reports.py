"""The weekly report's outside world and pictures (A2): the store's orders and order counts it
reads, the charts it draws, the CSV and PNG files it writes for the merchant's accountant.

Charts are drawn on matplotlib's Agg canvas (no display, no pyplot state), 800x400 pixels at
100 dpi, with no software stamp in the PNG: the same report gives the same bytes. Files go to
`AFTERSALES_REPORTS_DIR/<week>/` (default `.aftersales/reports/2026-W12/`), one CSV per table
(UTF-8 with a byte-order mark, so a spreadsheet reads the accents) and one PNG per chart; the
receiver serves them to the operator (`GET /operator/reports`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import PermanentError
from domain.orders import Order
from domain.reports import ALL, PROCESSES, Report, Table
from integrations.shopify.client import OrderCount
from tasks import clients
from tasks.retry import retrying_read

WEEK = re.compile(r"^\d{4}-(W\d{2}|\d{2})$")  # a weekly report's ISO week, or a monthly report's month
FILE = re.compile(r"^[a-z0-9_]+\.(csv|png)$")
CHART_SIZE = (8, 4)  # inches, at DPI: 800 x 400 pixels
DPI = 100
ORDER_READS = 4  # the store's orders read at once (Shopify's bucket refills at 50 points/s)


class ReportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_")

    reports_dir: Path = Path(".aftersales/reports")


def reports_dir() -> Path:
    return ReportSettings().reports_dir


# -- the store ------------------------------------------------------------------------------------


@retrying_read("read-report-orders")
async def read_orders(order_refs: list[str]) -> dict[str, Order]:
    """The store's orders behind the report's cases: their date, titles and product types (A1).
    An order the store no longer answers for is left out; its case keeps the ledger's facts."""
    found: dict[str, Order] = {}
    limit = asyncio.Semaphore(ORDER_READS)
    async with clients.shopify() as shopify:
        async def read(ref: str) -> None:
            async with limit:
                try:
                    found[ref] = await shopify.orders.get(ref)
                except PermanentError as exc:
                    get_run_logger().warning("order %s not read for the report: %s", ref, exc)

        await asyncio.gather(*(read(ref) for ref in order_refs))
    return found


@retrying_read("count-store-orders")
async def count_orders(created_from: datetime, created_until: datetime) -> OrderCount:
    """The store's orders created in [created_from, created_until): the sales of the chargeback ratio (K7)."""
    async with clients.shopify() as shopify:
        return await shopify.orders.count(created_from, created_until)


# -- the files ------------------------------------------------------------------------------------


def csv_text(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return buffer.getvalue()


# A number as the report writes it: 12.50, -3.5, 37.50%, 9.50 USD.
_NUMBER = re.compile(r"^-?\d+\.\d+(%| [A-Z]{3})?$")


def french_cell(cell: str) -> str:
    """A number a French spreadsheet reads as one: `12,50`, `37,50 %` (issue 17); text unchanged."""
    if not _NUMBER.match(cell):
        return cell
    cell = cell.replace(".", ",")
    return cell[:-1] + "\u00a0%" if cell.endswith("%") else cell


def csv_text_fr(table: Table) -> str:
    """The same table for a French spreadsheet (Excel, LibreOffice in French): `;` between cells
    and a decimal comma, so that amounts are numbers, not text, when the file is opened."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(table.columns)
    writer.writerows([[french_cell(c) for c in row] for row in table.rows])
    return buffer.getvalue()


def _write(path: Path, content: bytes) -> None:
    """Whole file or nothing: a reader never sees half a CSV."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


@task(name="write-report-files", task_run_name="write-report-{week}", cache_policy=NO_CACHE)
def write_report(week: str, tables: Sequence[Table], charts: dict[str, bytes]) -> list[str]:
    """One CSV per table and one PNG per chart, in `<reports dir>/<week>/`. Returns the file names."""
    if not WEEK.match(week):
        raise ValueError(f"not an ISO week label: {week!r}")
    folder = reports_dir() / week
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for table in tables:  # both: `,` and `.` for most tools, `;` and `,` for a French spreadsheet
        names.append(f"{table.name}.csv")
        _write(folder / names[-1], csv_text(table).encode("utf-8-sig"))
        names.append(f"{table.name}_fr.csv")
        _write(folder / names[-1], csv_text_fr(table).encode("utf-8-sig"))
    for name, png in charts.items():
        names.append(name)
        _write(folder / name, png)
    return names


def report_index(root: Path | None = None) -> list[dict[str, Any]]:
    """The weeks written so far, newest first, with their files (what the operator can download)."""
    root = root or reports_dir()
    if not root.is_dir():
        return []
    weeks = sorted((p for p in root.iterdir() if p.is_dir() and WEEK.match(p.name)), key=lambda p: p.name,
                   reverse=True)
    return [{"week": p.name, "files": sorted(f.name for f in p.iterdir() if f.is_file() and FILE.match(f.name))}
            for p in weeks]


def report_file(week: str, name: str, root: Path | None = None) -> Path | None:
    """The file if it exists; None for anything else (never a path outside the reports folder)."""
    if not WEEK.match(week) or not FILE.match(name):
        return None
    path = (root or reports_dir()) / week / name
    return path if path.is_file() else None


# -- the charts (A2) ------------------------------------------------------------------------------


def _figure() -> Figure:
    figure = Figure(figsize=CHART_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _nothing(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#555555", transform=ax.transAxes)
    ax.set_axis_off()


def _colour(i: int) -> Any:
    return colormaps["tab20"](i % 20)


def reasons_chart(report: Report) -> bytes:
    """Cases opened per week and reason, one panel per process (A1, A2)."""
    figure = _figure()
    axes = figure.subplots(1, len(PROCESSES), sharey=True)
    weeks = report.weeks
    ticks = [w.split("-", 1)[1] for w in weeks]
    for ax, kind in zip(axes, PROCESSES, strict=True):
        rows = [r for r in report.trend if r.process == kind.value]
        reasons = sorted({r.reason for r in rows})
        bottom = [0] * len(weeks)
        for i, reason in enumerate(reasons):
            counts = [sum(r.cases for r in rows if r.week == w and r.reason == reason) for w in weeks]
            ax.bar(ticks, counts, bottom=bottom, label=reason, color=_colour(i))
            bottom = [b + n for b, n in zip(bottom, counts, strict=True)]
        ax.set_title(f"{kind.value}s", fontsize=10)
        ax.tick_params(axis="x", labelsize=7, labelrotation=60)
        ax.tick_params(axis="y", labelsize=8)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if reasons:
            ax.legend(fontsize=6, loc="upper left", frameon=False)
        else:
            ax.bar(ticks, bottom)  # the weeks still show, at zero
            ax.text(0.5, 0.5, "none", ha="center", va="center", color="#555555", transform=ax.transAxes)
    axes[0].set_ylabel("cases opened", fontsize=9)
    figure.suptitle(f"Reasons by week, {weeks[0]} to {weeks[-1]} (A1)", fontsize=11)
    return _png(figure)


def refunds_chart(report: Report) -> bytes:
    """Days between each refund and its limits: the store's promise (F4) and the legal date (D2)."""
    figure = _figure()
    ax = figure.subplots()
    promise = [float(r.promise_days) for r in report.refunds if r.amount is not None and r.promise_days is not None]
    legal = [float(r.legal_days) for r in report.refunds if r.amount is not None and r.legal_days is not None]
    if not promise and not legal:
        _nothing(ax, f"no refund with a limit in {report.period.label}")
        return _png(figure)
    low = min(-1, *(int(d // 1) for d in promise + legal))
    high = max(1, *(int(-(-d // 1)) for d in promise + legal))
    bins = list(range(low, high + 1))
    ax.hist([promise, legal], bins=bins, label=["vs the store's promise (F4)", "vs the legal date (D2)"],
            color=["#4c72b0", "#dd8452"])
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)  # room for the labels above the bars
    ax.axvline(0, color="black", linestyle="--", linewidth=1)
    ax.axvspan(0, high, color="#c44e52", alpha=0.08)
    ax.text(0.2, 0.95, "late", color="#c44e52", fontsize=9, va="top", transform=ax.get_xaxis_transform())
    ax.text(-0.2, 0.95, "on time", fontsize=9, va="top", ha="right", transform=ax.get_xaxis_transform())
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("days after (+) or before (-) the limit, when refunded")
    ax.set_ylabel("refunds")
    ax.legend(fontsize=8, loc="upper left", frameon=False)
    ax.set_title(f"Refund delays, {report.period.label}", fontsize=11)
    return _png(figure)


def disputes_chart(report: Report) -> bytes:
    """Won, lost and accepted disputes by reason, with the win rate (K7)."""
    figure = _figure()
    ax = figure.subplots()
    rows = [d for d in report.disputes if d.reason != ALL]
    if not rows:
        _nothing(ax, f"no dispute decided in {report.period.label}")
        return _png(figure)
    names = [d.reason for d in rows]
    left = [0] * len(rows)
    for outcome, colour in (("won", "#55a868"), ("lost", "#c44e52"), ("accepted", "#8c8c8c")):
        counts = [getattr(d, outcome) for d in rows]
        ax.barh(names, counts, left=left, label=outcome, color=colour)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    for y, d in enumerate(rows):
        if d.win_rate is not None:
            ax.text(left[y] + 0.05, y, f"won {d.win_rate:.0%}", va="center", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(left) * 1.2)
    ax.invert_yaxis()
    ax.set_xlabel("disputes decided")
    figure.legend(fontsize=8, loc="outside lower center", ncols=3, frameon=False)
    ax.set_title(f"Dispute outcomes by reason, {report.period.label} (K7)", fontsize=11)
    return _png(figure)


def render_charts(report: Report) -> dict[str, bytes]:
    """The report's pictures, by file name."""
    return {"reasons_by_week.png": reasons_chart(report), "refund_delays.png": refunds_chart(report),
            "dispute_outcomes.png": disputes_chart(report)}
