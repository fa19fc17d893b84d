"""Benchmark: RecordCallOutcome -> CoBorrowerConfirmed for many tasks, and next-task under concurrent agents.

    .venv/bin/python -m bench.confirmation_throughput [--tasks 10000] [--agents 20] [--calls 1500]

Provisions its own broker and database (tests/support/infra.py) and runs the confirmation service as its
own process. Phase 1: COUNT requests with one co-borrower each are published (COUNT tasks), then COUNT
CONFIRMED outcomes; each is timed to its CoBorrowerConfirmed. Phase 2: AGENTS concurrent agents call
POST /tasks/next CALLS times in all over HTTP; requests/s and latency percentiles are recorded.
"""

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import httpx

from bench.requests_throughput import collect, envelopes, figures, produce
from bench.support import service_process
from shared import topics
from shared.contracts import confirmation as C
from shared.contracts import requests as R
from shared.db import migrate
from tests.support.builders import ACCOUNT_DAY
from tests.support.infra import ROOT, Infra, provide

PORT = 18102


def submissions(count: int) -> list[R.RequestSubmitted]:
    return [R.RequestSubmitted(
        request_id=f"RB-{uuid.uuid4().hex[:12]}", command_id=f"cmd-{uuid.uuid4().hex[:12]}",
        loan_id=f"LB-{uuid.uuid4().hex[:12]}", request_type=R.RequestType.DEBIT_DAY_CHANGE,
        applicant_customer_id="C-P", channel=R.Channel.APP,
        co_borrowers=[R.CoBorrowerRef(customer_id=f"C-{uuid.uuid4().hex[:10]}")], deadline=date(2020, 2, 25),
        paper_documents_required=True, policy_version="epidemic-2020", submitted_at=ACCOUNT_DAY, branch_id="SZ-FUTIAN",
        confirmation_attempts=3, current_debit_day=25, new_debit_day=20, current_due_date=date(2020, 2, 25),
        new_due_date=date(2020, 3, 20),
    ) for _ in range(count)]


async def tasks_of(dsn: str, request_ids: list[str]) -> dict[str, tuple[str, str]]:
    """request_id -> (task_id, loan_id), once every task exists."""
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            rows = await conn.fetch("SELECT request_id, task_id, loan_id FROM confirmation.tasks "
                                    "WHERE request_id = ANY($1)", request_ids)
            if len(rows) == len(request_ids):
                return {r["request_id"]: (r["task_id"], r["loan_id"]) for r in rows}
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def outcomes_phase(infra: Infra, count: int) -> dict[str, float]:
    dsn = infra.database_url.replace("postgresql+asyncpg", "postgresql")
    subs = submissions(count)
    await produce(infra.kafka_bootstrap, topics.REQUESTS_EVENTS, envelopes([(s, s.loan_id) for s in subs]))
    tasks = await tasks_of(dsn, [s.request_id for s in subs])
    commands = envelopes([(C.RecordCallOutcome(command_id=f"cmd-{uuid.uuid4().hex[:12]}", task_id=tasks[s.request_id][0],
                                               agent_id="A-1", outcome=C.CallOutcome.CONFIRMED, recording_id="REC",
                                               called_at=ACCOUNT_DAY), s.loan_id) for s in subs])
    collector = asyncio.create_task(collect(infra.kafka_bootstrap, topics.CONFIRMATION_EVENTS, {k for k, _ in commands},
                                            b'"type":"CoBorrowerConfirmed"', timeout=900))
    await asyncio.sleep(1)
    sent = await produce(infra.kafka_bootstrap, topics.CONFIRMATION_COMMANDS, commands)
    return figures(sent, await collector)


async def dispatch_phase(infra: Infra, agents: int, calls: int) -> dict[str, float]:
    dsn = infra.database_url.replace("postgresql+asyncpg", "postgresql")
    subs = submissions(calls)
    await produce(infra.kafka_bootstrap, topics.REQUESTS_EVENTS, envelopes([(s, s.loan_id) for s in subs]))
    await tasks_of(dsn, [s.request_id for s in subs])
    latencies: list[float] = []
    handed: list[str] = []
    per_agent = calls // agents

    async def agent(n: int, client: httpx.AsyncClient) -> None:
        for _ in range(per_agent):
            t = time.perf_counter()
            response = await client.post("/tasks/next", json={"agent_id": f"A-{n}"})
            latencies.append((time.perf_counter() - t) * 1000)
            if response.status_code == 200:
                handed.append(response.json()["task_id"])

    limits = httpx.Limits(max_connections=agents)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}", limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(agent(n, client) for n in range(agents)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"agents": agents, "calls": len(latencies), "tasks_handed_out": len(handed),
            "handed_out_twice": len(handed) - len(set(handed)), "requests_per_second": round(len(latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(latencies), 1), "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--calls", type=int, default=1_500)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "confirmation.json")
    args = parser.parse_args()
    async with provide() as infra:
        from shared.kafka_admin import ensure_topics

        await ensure_topics(infra.kafka_bootstrap)
        await migrate(ROOT / "services" / "confirmation" / "migrations", infra.database_url, "confirmation")
        async with service_process("confirmation", infra, PORT):
            outcomes = await outcomes_phase(infra, args.tasks)
            print("outcomes", outcomes, flush=True)
            dispatch = await dispatch_phase(infra, args.agents, args.calls)
            print("dispatch", dispatch, flush=True)
    result = {"benchmark": "confirmation: RecordCallOutcome -> CoBorrowerConfirmed; POST /tasks/next",
              "machine": f"{os.cpu_count()} cores; broker, database, service and driver on the same machine",
              "kafka": infra.kafka_version, "postgres": infra.postgres_version,
              "outcomes": outcomes, "dispatch": dispatch}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
