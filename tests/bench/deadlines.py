"""DEADLINE CHECK benchmark: how long the scheduled check takes to find the due deadlines when
10k, 100k and 1M deadlines are open in PostgreSQL, a fixed 100 of them due.

The table is filled server-side (INSERT ... SELECT FROM generate_series, one statement per
batch; the indexes and constraints are dropped and rebuilt from their own definitions around
it) with what a busy ledger holds: open deadlines due over the next 60 days, the 100 due ones
(act_at up to 3 days past), and closed ones (met / acted / cancelled, in the past: half as many
as the open ones), four deadline kinds per case. Then, for each size, after ANALYZE (what
autovacuum does on its own after such a load), it times the product's own function
`ledger.deadlines.due_deadlines` (what `flows/sweep.py` calls) through the product's engine,
and prints its median / p95 over the repetitions, the plan PostgreSQL picks (EXPLAIN ANALYZE of
the exact SQL it sent) and the ratio 1M / 10k. `upcoming_deadlines` (the check's
`upcoming-deadlines` table, 14 days ahead) is timed beside it for information.

    uv run python -m tests.bench.deadlines [--sizes 10000,100000,1000000] [--due 100] [--reps 30]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.common import create_pg_database, drop_pg_database, machine, median, migrate, percentile, table

PG_DB = "aftersales_bench_deadlines"
KINDS = ["legal_refund", "return_reminder", "return_shipping", "follow_up"]  # four deadlines per case
UPCOMING = timedelta(days=14)  # flows/sweep.py UPCOMING


# -- loading ---------------------------------------------------------------------------------------

_CASES = """
INSERT INTO cases (id, key, store_id, kind, state, order_ref, order_name, language, origin, opened_at, updated_at,
                   data, version)
SELECT md5('case:' || c), 'return:bench:' || c, 'bench.myshopify.com', 'return', 'in_transit', c::text,
       '#' || c, 'en', 'customer', $1::timestamptz, $1::timestamptz, '{}', 0
FROM generate_series($2::bigint, $3::bigint) AS c
"""

# $1 now, $2..$3 deadline numbers (case = n / 4), $4 status, $5 lower / $6 upper bound of act_at - now.
_DEADLINES = """
INSERT INTO deadline (id, case_id, kind, due_at, act_at, status, action, created_at, resolved_at, check_attempts)
SELECT md5('deadline:' || n), md5('case:' || (n / 4)), ($7::text[])[(n % 4 + 1)::int], act + interval '3 days', act,
       $4::varchar, 'refund_or_operator', $1::timestamptz - interval '30 days',
       CASE WHEN $4::varchar = 'open' THEN NULL ELSE act END, 0
FROM (SELECT n, $1::timestamptz + $5::interval + random() * ($6::interval - $5::interval) AS act
      FROM generate_series($2::bigint, $3::bigint) AS n) AS s
"""


@dataclass
class Loader:
    """Adds deadlines in numbered ranges: cases are made for every 4 deadlines."""

    conn: Any  # asyncpg.Connection
    now: datetime
    next_n: int = 0
    rows: int = 0

    async def add(self, count: int, status: str, low: timedelta, high: timedelta) -> None:
        if count <= 0:
            return
        first = self.next_n + (-self.next_n % 4)  # each batch starts on a case of its own
        last = first + count - 1
        await self.conn.execute(_CASES, self.now, first // 4, last // 4)
        await self.conn.execute(_DEADLINES, self.now, first, last, status, low, high, KINDS)
        self.next_n = last + 1
        self.rows += count


_CONSTRAINTS = """
SELECT conname, conrelid::regclass::text AS tbl, contype::text AS contype, pg_get_constraintdef(oid) AS def
FROM pg_constraint
WHERE contype IN ('p', 'u', 'f') AND (conrelid = ANY($1::regclass[]) OR confrelid = ANY($1::regclass[]))
"""
_INDEXES = """
SELECT indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename = ANY($1::text[])
  AND indexname NOT IN (SELECT conname FROM pg_constraint)
"""


class Rebuilt:
    """Drop the tables' indexes and constraints for a bulk load and rebuild them after, from
    their definitions as the migrations made them (read from the catalog first): a bulk load
    then sorts each index once instead of inserting 1.5M random keys one by one."""

    def __init__(self, conn: Any, tables: list[str]) -> None:
        self.conn, self.tables = conn, tables
        self.constraints: list[Any] = []
        self.indexes: list[Any] = []

    async def __aenter__(self) -> None:
        self.constraints = list(await self.conn.fetch(_CONSTRAINTS, self.tables))
        self.indexes = list(await self.conn.fetch(_INDEXES, self.tables))
        for c in sorted(self.constraints, key=lambda c: c["contype"] != "f"):  # foreign keys first
            await self.conn.execute(f'ALTER TABLE {c["tbl"]} DROP CONSTRAINT "{c["conname"]}"')
        for i in self.indexes:
            await self.conn.execute(f'DROP INDEX "{i["indexname"]}"')

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.execute("SET maintenance_work_mem = '256MB'")
        for c in sorted(self.constraints, key=lambda c: c["contype"] == "f"):  # foreign keys last
            await self.conn.execute(f'ALTER TABLE {c["tbl"]} ADD CONSTRAINT "{c["conname"]}" {c["def"]}')
        for i in self.indexes:
            await self.conn.execute(i["indexdef"])
        # Re-executed from PostgreSQL's own definitions (it may print a predicate's casts differently
        # afterwards, so the names are compared).
        after = [*await self.conn.fetch(_CONSTRAINTS, self.tables), *await self.conn.fetch(_INDEXES, self.tables)]
        if _names(after) != _names([*self.constraints, *self.indexes]):
            raise RuntimeError("the rebuilt indexes or constraints differ from the migrations' ones")


def _names(rows: list[Any]) -> set[str]:
    return {str(next(iter(r.values()))) for r in rows}


async def grow(loader: Loader, open_target: int, open_now: int, due: int, closed_ratio: float) -> None:
    """From `open_now` open deadlines to `open_target`; the `due` ones come with the first batch."""
    if open_now == 0:
        await loader.add(due, "open", -timedelta(days=3), -timedelta(seconds=1))
        open_now = due
    add = open_target - open_now
    await loader.add(add, "open", timedelta(minutes=1), timedelta(days=60))
    closed = int(add * closed_ratio)
    per_status = closed // 3
    for status in ("met", "acted", "cancelled"):
        await loader.add(per_status, status, -timedelta(days=90), -timedelta(seconds=1))


# -- timing ----------------------------------------------------------------------------------------

@dataclass
class Figures:
    open: int
    rows: int
    found: int
    due_ms: list[float]
    plan: str
    plan_ms: float
    pages: int
    upcoming_ms: list[float]
    upcoming_found: int
    upcoming_plan: str
    upcoming_plan_ms: float
    upcoming_pages: int


async def timed(fn: Any, reps: int) -> tuple[list[float], Any]:
    out: Any = None
    for _ in range(3):  # warm the pool, the statement caches and the buffers
        out = await fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times, out


async def explain(db: Any, fn: Any) -> tuple[str, float, int]:
    """EXPLAIN (ANALYZE, BUFFERS) of exactly the SQL the product function sends."""
    from sqlalchemy import event

    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await fn()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    statement, parameters = sent[-1]
    async with db.engine.connect() as conn:
        result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        lines = [str(r[0]) for r in result.all()]
    nodes = [re.sub(r"\s+\(cost=.*", "", ln.strip().lstrip("-> ").strip()) for ln in lines
             if "cost=" in ln]
    exec_ms = next(float(m.group(1)) for ln in lines if (m := re.search(r"Execution Time: ([\d.]+)", ln)))
    # The pages the whole plan touched (its top node's count): the work done, whatever the machine's load.
    top = next((ln for ln in lines if "Buffers:" in ln), "")
    pages = sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", top.split("temp")[0]))
    return " > ".join(nodes), exec_ms, pages


async def measure(url: str, now: datetime, open_count: int, rows: int, reps: int) -> Figures:
    from ledger import deadlines
    from ledger.db import Database

    db = Database(url)
    try:
        def due() -> Any:
            return deadlines.due_deadlines(db, now=now)

        def upcoming() -> Any:
            return deadlines.upcoming_deadlines(db, until=now + UPCOMING)

        due_ms, found = await timed(due, reps)
        plan, plan_ms, pages = await explain(db, due)
        upcoming_ms, up_rows = await timed(upcoming, max(5, reps // 3))
        up_plan, up_ms, up_pages = await explain(db, upcoming)
    finally:
        await db.dispose()
    return Figures(open_count, rows, len(found), due_ms, plan, plan_ms, pages, upcoming_ms, len(up_rows), up_plan,
                   up_ms, up_pages)


async def main_async(args: argparse.Namespace) -> int:
    import asyncpg

    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(f"# DEADLINE CHECK  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    print(f"open deadlines {sizes}, {args.due} of them due, closed ones {args.closed_ratio:g} x the open, "
          f"{args.reps} timed calls of due_deadlines per size (after 3 warm-up calls)")
    url = await create_pg_database(PG_DB)
    migrate(url)
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    results: list[Figures] = []
    failed = False
    try:
        await conn.execute("SELECT setseed(0.42)")
        loader = Loader(conn, now)
        open_now = 0
        for size in sizes:
            t0 = time.perf_counter()
            async with Rebuilt(conn, ["deadline", "cases"]):
                await grow(loader, size, open_now, args.due, args.closed_ratio)
            open_now = size
            await conn.execute("ANALYZE deadline; ANALYZE cases")
            load_s = time.perf_counter() - t0
            fig = await measure(url, now, size, loader.rows, args.reps)
            results.append(fig)
            print(f"  {size:>9,} open ({fig.rows:,} rows, loaded in {load_s:.1f} s): due_deadlines median "
                  f"{median(fig.due_ms):.2f} ms, p95 {percentile(fig.due_ms, 95):.2f} ms, found {fig.found}; "
                  f"plan {fig.plan}", flush=True)
            if fig.found != args.due:
                failed = True
                print(f"  expected {args.due} due deadlines, found {fig.found}")
    finally:
        await conn.close()
        if not args.keep:
            await drop_pg_database(PG_DB)

    print()
    rows = [[f"{f.open:,}", f"{f.rows:,}", f.found, f"{median(f.due_ms):.2f}", f"{percentile(f.due_ms, 95):.2f}",
             f"{min(f.due_ms):.2f}", f"{f.plan_ms:.2f}", f.pages, f"{median(f.upcoming_ms):.1f}",
             f"{f.upcoming_plan_ms:.2f}", f.upcoming_pages] for f in results]
    print(table(["open deadlines", "rows in table", "due found", "due_deadlines median ms", "p95 ms", "min ms",
                 "PostgreSQL execution ms", "pages read", "upcoming_deadlines median ms", "PostgreSQL ms",
                 "pages read"], rows))
    print()
    for f in results:
        print(f"plan at {f.open:,} open: due {f.plan}")
        print(f"{'':>{len(f'plan at {f.open:,} open: ')}}upcoming {f.upcoming_plan}")
    if len(results) >= 2:
        lo, hi = results[0], results[-1]
        ratio = median(hi.due_ms) / median(lo.due_ms)
        print(f"\nratio {hi.open:,} / {lo.open:,} open: due_deadlines median x{ratio:.2f} "
              f"(p95 x{percentile(hi.due_ms, 95) / percentile(lo.due_ms, 95):.2f}, "
              f"PostgreSQL execution x{hi.plan_ms / lo.plan_ms:.2f}, pages x{hi.pages / lo.pages:.2f}); "
              f"upcoming_deadlines median x{median(hi.upcoming_ms) / median(lo.upcoming_ms):.2f} "
              f"(PostgreSQL x{hi.upcoming_plan_ms / lo.upcoming_plan_ms:.2f})")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="open deadlines, comma separated")
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--closed-ratio", type=float, default=0.5, help="closed deadlines per open one")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help=f"keep the PostgreSQL database {PG_DB}")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
