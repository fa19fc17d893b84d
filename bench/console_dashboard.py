"""The console's dashboard queries at scale: 100,000 requests, 50,000 bookings (and proportionate tasks, paper,
policies, dead-letter counts) seeded with COPY into a throwaway database, then `dashboard(now)` and the whole page
(queries, template, chart) timed 200 times.

    .venv/bin/python -m bench.console_dashboard [--requests 100000] [--bookings 50000] [--runs 200]

Figures go to bench/results/issue15/console_dashboard.json (p50/p95/p99 in ms, plan of each query's index use).
"""

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import time as clock
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request

from harness.builders import ACCOUNT_DAY
from harness.infra import ROOT, provide
from services.console import queries
from services.console.app import build_runtime
from services.console.settings import Settings
from services.console.web import supervisor
from services.console.web.auth import Staff
from shared import topics
from shared.db import create_engine, migrate

NOW = ACCOUNT_DAY + timedelta(hours=6)  # 15:30 bank time: a day well under way
BRANCHES = [f"BR-{i:03d}" for i in range(60)]
CHANNELS = ["APP", "WECHAT", "HOTLINE", "ACCOUNT_MANAGER", "BRANCH"]
REQUEST_STATES = ["SUBMITTED", "APPROVED", "COMPLETED", "REJECTED", "WITHDRAWN", "EXPIRED"]
RANK = {"SUBMITTED": 1, "APPROVED": 2, "OPEN": 1, "OWED": 1, "IN_TRANSIT": 2, "BOOKED": 1}


def _rank(state: str) -> int:
    return RANK.get(state, 3)


def requests(n: int, rnd: random.Random) -> list[tuple[Any, ...]]:
    """Spread over the last 90 days, a fiftieth of them today."""
    rows = []
    for i in range(n):
        back = timedelta(0) if i % 50 == 0 else timedelta(days=rnd.randint(1, 90))
        submitted = NOW - back - timedelta(minutes=rnd.randint(0, 360))
        state = rnd.choice(REQUEST_STATES)
        approved = submitted + timedelta(minutes=rnd.randint(1, 120)) if state in ("APPROVED", "COMPLETED") else None
        channel = rnd.choice(CHANNELS)
        rows.append((f"R-{i}", f"L-{i}", rnd.choice(BRANCHES), "DEBIT_DAY_CHANGE", channel, state, _rank(state),
                     channel in ("HOTLINE", "ACCOUNT_MANAGER"), submitted, approved, approved, None,
                     submitted.date() + timedelta(days=20), None, "v1"))
    return rows


def tasks(n: int, rnd: random.Random) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(n):
        state = "OPEN" if i % 5 == 0 else rnd.choice(["CONFIRMED", "DECLINED", "UNREACHABLE", "CLOSED"])
        rows.append((f"T-{i}", f"R-{i}", f"L-{i}", f"C-{i}", NOW.date() + timedelta(days=rnd.randint(-2, 30)),
                     rnd.randint(1, 3), False, state, _rank(state), None))
    return rows


def paper(n: int, rnd: random.Random) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(n):
        state = rnd.choice(["OWED", "OWED", "IN_TRANSIT", "RECEIVED", "CANCELLED"])
        rows.append((f"R-{i}", f"C-{i}", f"L-{i}", rnd.choice(BRANCHES), "PHONE_CONFIRMATION",
                     NOW - timedelta(days=rnd.randint(0, 120)), state, _rank(state), None, None, None))
    return rows


def bookings(n: int, rnd: random.Random) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(n):
        on = NOW.date() + timedelta(days=rnd.randint(-30, 14))
        state = rnd.choice(["BOOKED"] * 6 + ["CANCELLED", "CHECKED_IN", "NO_SHOW"])
        start = clock(9 + rnd.randint(0, 7), rnd.choice((0, 30)))
        rows.append((f"B-{i}", rnd.choice(BRANCHES), on, start, None, f"C-{i}", "OTHER", None, state, _rank(state),
                     None))
    return rows


def day_caps() -> list[tuple[Any, ...]]:
    return [(b, NOW.date() + timedelta(days=d), 40, NOW) for b in BRANCHES[::3] for d in range(7)]


def policies(n: int) -> list[tuple[Any, ...]]:
    doc = json.dumps({"debit_day": {"min": 1, "max": 28}, "confirmation_attempts": 3})
    return [(f"v{i}", f"v{i - 1}" if i else None, "policy-admin", NOW - timedelta(days=n - i), "0" * 64, doc)
            for i in range(n)]


async def seed(dsn: str, n_requests: int, n_bookings: int) -> dict[str, int]:
    rnd = random.Random(15)
    tables: dict[str, list[tuple[Any, ...]]] = {
        "requests": requests(n_requests, rnd), "confirmation_tasks": tasks(n_requests * 3 // 10, rnd),
        "paper": paper(n_requests // 5, rnd), "bookings": bookings(n_bookings, rnd), "branch_day_caps": day_caps(),
        "policies": policies(20),
        "dead_letters": [(topics.dlq(t), rnd.randint(0, 50), NOW) for t in topics.ALL],
    }
    conn = await asyncpg.connect(dsn)
    try:
        for name, rows in tables.items():
            await conn.copy_records_to_table(name, schema_name="console", records=rows)
        await conn.execute("ANALYZE console.requests, console.confirmation_tasks, console.paper, console.bookings")
    finally:
        await conn.close()
    return {name: len(rows) for name, rows in tables.items()}


def percentile(ms: list[float], p: float) -> float:
    return round(statistics.quantiles(ms, n=100)[int(p) - 1], 2)


def _page_request() -> Request:
    """A request for /supervisor on a console app (built, not started: rendering needs no broker or database)."""
    key = ROOT / ".local" / "test" / "bench-session-key"
    app = build_runtime(Settings(kafka_security_protocol="PLAINTEXT", session_key_file=str(key))).asgi()
    return Request({"type": "http", "app": app, "router": app.router, "method": "GET", "path": "/supervisor",
                    "root_path": "", "query_string": b"", "headers": [], "scheme": "http",
                    "server": ("127.0.0.1", 8005)})


async def timed(url: str, runs: int) -> tuple[list[float], list[float], queries.Dashboard, dict[str, float]]:
    """The whole page's server time (the queries, then the template and chart) per run, and the queries' alone."""
    engine = create_engine(url, pool_size=2)
    request = _page_request()
    staff = Staff("bench-supervisor", frozenset({"supervisor"}), "none", "csrf")
    ms: list[float] = []
    page_ms: list[float] = []
    try:
        async with engine.connect() as conn:
            board = await queries.dashboard(conn, NOW)  # warm: the plans and the pages the first run reads
            supervisor.page(request, staff, board)
            for _ in range(runs):
                started = time.perf_counter()
                board = await queries.dashboard(conn, NOW)
                ms.append((time.perf_counter() - started) * 1000)
                supervisor.page(request, staff, board)
                page_ms.append((time.perf_counter() - started) * 1000)
                await conn.rollback()  # each run its own transaction, as each page view is
        parts = await _parts(engine, runs // 4)
    finally:
        await engine.dispose()
    return ms, page_ms, board, parts


async def _parts(engine: AsyncEngine, runs: int) -> dict[str, float]:
    """The p50 of each of the dashboard's questions alone (where its time goes)."""
    asks: dict[str, Callable[[AsyncConnection], Awaitable[object]]] = {
        "requests_today": lambda c: queries.requests_today(c, NOW),
        "approvals_by_hour": lambda c: queries.approvals_by_hour(c, NOW),
        "backlog": lambda c: queries.backlog(c, NOW), "paper_by_age": lambda c: queries.paper_by_age(c, NOW),
        "bookings_vs_cap": lambda c: queries.bookings_vs_cap(c, NOW), "dead_letters": queries.dead_letters,
        "policies": queries.policies,
    }
    p50 = {}
    async with engine.connect() as conn:
        for name, ask in asks.items():
            ms = []
            for _ in range(runs):
                started = time.perf_counter()
                await ask(conn)
                ms.append((time.perf_counter() - started) * 1000)
            p50[name] = round(statistics.median(ms), 2)
    return p50


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--bookings", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "issue15" / "console_dashboard.json")
    args = parser.parse_args()
    async with provide() as infra:
        url = infra.service_database_url("console")
        await migrate(ROOT / "services" / "console" / "migrations", url, "console")
        rows = await seed(url.replace("postgresql+asyncpg", "postgresql"), args.requests, args.bookings)
        ms, page_ms, board, parts = await timed(url, args.runs)
    figures = {
        "rows": rows, "runs": args.runs, "now": NOW.isoformat(),
        "dashboard_ms": {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "p99": percentile(ms, 99),
                         "max": round(max(ms), 2)},
        "page_ms": {"p50": percentile(page_ms, 50), "p95": percentile(page_ms, 95), "p99": percentile(page_ms, 99),
                    "max": round(max(page_ms), 2), "what": "queries, then the template and the chart (server time)"},
        "each_question_p50_ms": parts,
        "answer": {"requests_today": sum(c.count for c in board.requests_today),
                   "approvals_today": sum(board.approvals_by_hour), "open_tasks": sum(
                       d.count for d in board.backlog.by_due_date), "near": sum(t.near for t in board.backlog.nearest),
                   "paper_owed": sum(p.count for p in board.paper_owed), "branch_days": len(board.bookings),
                   "policies": len(board.policy.history)},
        "machine": "2 cores shared by the database and the script",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
