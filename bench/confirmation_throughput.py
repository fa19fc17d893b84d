"""Benchmark: RecordCallOutcome -> CoBorrowerConfirmed for many tasks, and next-task under concurrent agents.

    .venv/bin/python -m bench.confirmation_throughput [--tasks 10000] [--copies 1] [--rounds 1]
        [--open-tasks 100000] [--held 5000] [--agents 20] [--calls 2000] [--think-ms 500]
        [--out bench/results/confirmation-issue12.json]

Provisions its own broker and database (harness/infra.py) and, for phase 2, Keycloak (harness/keycloak.py); runs
the confirmation service as its own process (COPIES of it in one consumer group). Phase 1 (outcomes): TASKS
requests with one co-borrower each are published (TASKS tasks, made by the service), each task is leased to the
driver's agent, then TASKS CONFIRMED outcomes are published; each is timed to its CoBorrowerConfirmed
(outcomes/s, p50, p99, and the CPU per outcome of the service, broker, database and driver). ROUNDS rounds of
phase 1, each on fresh tasks, report the median round.
Phase 2 (next-task): OPEN_TASKS open tasks (and their contacts) are written straight into the service's tables,
as if a large backlog had built up, the HELD earliest-due of them held by other agents; then AGENTS agents
call POST /tasks/next CALLS times in all over HTTP, at once, each pausing THINK_MS between its calls and keeping
every task it gets (so the held tasks pile up ahead of the free ones as the phase goes on); requests/s, latency
percentiles (all calls, first and last tenth) are recorded, and no task may be handed out twice. With THINK_MS
0 the agents call back to back: that measures how many calls the machine takes (the latency is then the agents'
count over the throughput), not what one call costs.
Each phase also records the service's CPU time per outcome or call (its processes and their children), which other
processes on a shared machine blur less than they blur latencies. CALLS 0: no phase 2 (and no Keycloak).
BENCH_PYSPY=<file>: py-spy samples the (first) service copy during phase 1; BENCH_PYSPY_DISPATCH=<file>, during
phase 2.
The service's port is POSTLOAN_TEST_PORT_BASE + 2 (18102 by default) or --port.
"""

import argparse
import asyncio
import contextlib
import json
import os
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.requests_throughput import collect, envelopes, figures, produce
from bench.support import cpu_by_part, cpu_seconds, cpu_split_ms, sampling_profiler, service_process, stop_profiler
from harness.builders import ACCOUNT_DAY
from harness.infra import ROOT, Infra, provide
from harness.keycloak import Identity, provide_identity
from shared import topics
from shared.contracts import confirmation as C
from shared.contracts import requests as R
from shared.db import migrate

PORT = int(os.environ.get("POSTLOAN_TEST_PORT_BASE", "18100")) + 2
AGENT = "A-1"  # the agent recording phase 1's outcomes


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
    """request_id -> (task_id, loan_id), once every task exists; each task then leased to the driver's agent."""
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            rows = await conn.fetch("SELECT request_id, task_id, loan_id FROM confirmation.tasks "
                                    "WHERE request_id = ANY($1)", request_ids)
            if len(rows) == len(request_ids):
                break
            await asyncio.sleep(0.2)
        # An outcome counts only from the agent holding a live lease (POST /tasks/next). Handing 10,000 tasks out
        # over HTTP would time phase 2's path, not this one's: each task is leased to the driver's agent here, as
        # next-task leaves it (held_by and lease_until together), for a day of the service's clock.
        await conn.execute("UPDATE confirmation.tasks SET held_by = $2, lease_until = $3 WHERE request_id = ANY($1)",
                           request_ids, AGENT, ACCOUNT_DAY + timedelta(days=1))
        return {r["request_id"]: (r["task_id"], r["loan_id"]) for r in rows}
    finally:
        await conn.close()


async def outcomes_phase(infra: Infra, count: int, pids: list[int]) -> dict[str, Any]:
    dsn = infra.database_url.replace("postgresql+asyncpg", "postgresql")
    subs = submissions(count)
    await produce(infra.kafka_as(), topics.REQUESTS_EVENTS,
                  envelopes(topics.REQUESTS_EVENTS, [(s, s.loan_id) for s in subs]))
    tasks = await tasks_of(dsn, [s.request_id for s in subs])
    commands = envelopes(topics.CONFIRMATION_COMMANDS, [(C.RecordCallOutcome(command_id=f"cmd-{uuid.uuid4().hex[:12]}",
                                               task_id=tasks[s.request_id][0], agent_id=AGENT,
                                               outcome=C.CallOutcome.CONFIRMED, recording_id="REC",
                                               called_at=ACCOUNT_DAY), s.loan_id) for s in subs])
    want = {k for k, _ in commands}
    collector = asyncio.create_task(collect(infra.kafka_as(), topics.CONFIRMATION_EVENTS, want,
                                            b'"type":"CoBorrowerConfirmed"', timeout=900))
    await asyncio.sleep(1)
    spy = sampling_profiler(pids[0])
    parts = cpu_by_part(*pids)
    sent = await produce(infra.kafka_as(), topics.CONFIRMATION_COMMANDS, commands)
    result = figures(sent, await collector)
    stop_profiler(spy)
    split = cpu_split_ms(parts, cpu_by_part(*pids), count)
    return result | {"copies": len(pids), "service_cpu_ms_per_outcome": round(split["service"], 2),
                     "cpu_ms_per_outcome_by_part": split}


async def seed_open_tasks(dsn: str, count: int, held: int) -> None:
    """`count` open tasks due over the coming weeks (all worth calling now), with their contacts, written with COPY
    as the service would have stored them (only the columns every revision has). The `held` earliest-due ones are
    held by other agents whose leases run: the work already handed out, ahead of everything free in the queue."""
    now = ACCOUNT_DAY
    tasks, contacts = [], []
    for n in range(count):
        customer = f"C-Q{n:07d}"
        holder, lease = (f"A-busy-{n % 50}", now + timedelta(hours=1)) if n < held else (None, None)
        tasks.append((f"T-Q{n:07d}", f"RQ-{n:07d}", f"LQ-{n:07d}", customer,
                      date(2020, 2, 10) + timedelta(days=n * 40 // count), "OPEN", 0, holder, lease,
                      now - timedelta(hours=1), now - timedelta(seconds=count - n), now))
        contacts.append((customer, f"+86 138 {n:08d}", now))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "tasks", schema_name="confirmation", records=tasks,
            columns=["task_id", "request_id", "loan_id", "customer_id", "due_by", "state", "attempts", "held_by",
                     "lease_until", "available_at", "created_at", "updated_at"])
        await conn.copy_records_to_table("contacts", schema_name="confirmation", records=contacts,
                                         columns=["customer_id", "phone", "as_of"])
        for table in ("tasks", "contacts"):
            await conn.execute(f"VACUUM ANALYZE confirmation.{table}")
    finally:
        await conn.close()


class Agent:
    """One call-centre agent on a keep-alive HTTP/1.1 connection of its own, written by hand: the driver spends
    a fraction of what a full HTTP client does per call, and leaves the machine's cores to the service."""

    def __init__(self, agent_id: str, port: int, token: str) -> None:
        self.agent_id, self.port = agent_id, port
        body = json.dumps({"agent_id": agent_id}).encode()
        self.request = (b"POST /tasks/next HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                        b"authorization: Bearer %s\r\ncontent-length: %d\r\n\r\n%s"
                        % (token.encode(), len(body), body))

    async def __aenter__(self) -> "Agent":
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.writer.close()

    async def next_task(self) -> tuple[int, dict[str, object] | None]:
        """POST /tasks/next: the status, and the task handed out (None on 204)."""
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        body = await self.reader.readexactly(length) if length else b""
        return status, json.loads(body) if status == 200 else None


def percentile(ordered: list[float], share: float) -> float:
    return round(ordered[max(int(len(ordered) * share) - 1, 0)], 1)


async def dispatch_phase(infra: Infra, identity: Identity, open_tasks: int, held: int, agents: int, calls: int,
                         think_ms: float, port: int, pid: int) -> dict[str, float]:
    """AGENTS agents ask for work at once, each pausing THINK_MS between its calls (0: back to back, which measures
    how many calls the machine can take rather than what one costs). Each keeps every task it gets, so the held
    tasks pile up ahead of the free ones as the phase goes on: the latencies of the last tenth of the calls against
    those of the first tenth show whether a call still passes over them."""
    dsn = infra.database_url.replace("postgresql+asyncpg", "postgresql")
    await seed_open_tasks(dsn, open_tasks, held)
    timed: list[tuple[float, float]] = []  # (when the call began, how long it took in ms)
    handed: list[str] = []
    per_agent = calls // agents

    async def agent(n: int, warmed: asyncio.Barrier) -> None:
        name = identity.user(f"bench-agent-{n}", "agent")  # signed in through the run's Keycloak, as agents are
        async with Agent(name, port, await asyncio.to_thread(identity.token, name)) as me:
            _, task = await me.next_task()  # warm-up, not timed: the service's connections, prepared statements
            handed.extend([str(task["task_id"])] if task else [])
            await warmed.wait()
            await asyncio.sleep(think_ms / 1000 * n / agents)  # the agents do not all start at one instant
            for _ in range(per_agent):
                began = time.perf_counter()
                status, task = await me.next_task()
                timed.append((began, (time.perf_counter() - began) * 1000))
                assert status in (200, 204), status
                if task is not None:
                    handed.append(str(task["task_id"]))
                await asyncio.sleep(think_ms / 1000)

    warmed = asyncio.Barrier(agents + 1)
    running = asyncio.gather(*(agent(n, warmed) for n in range(agents)))
    await warmed.wait()
    spy = sampling_profiler(pid, "BENCH_PYSPY_DISPATCH")
    started, cpu = time.perf_counter(), cpu_seconds(pid)
    await running
    elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu
    stop_profiler(spy)
    latencies = sorted(ms for _, ms in timed)
    in_order = [ms for _, ms in sorted(timed)]
    tenth = max(len(in_order) // 10, 1)
    return {"open_tasks": open_tasks, "held_by_others_at_start": held, "agents": agents, "think_ms": think_ms,
            "calls": len(latencies), "tasks_handed_out": len(handed),
            "handed_out_twice": len(handed) - len(set(handed)),
            "requests_per_second": round(len(latencies) / elapsed, 1), "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99), "max_ms": round(latencies[-1], 1),
            "p99_first_tenth_ms": percentile(sorted(in_order[:tenth]), 0.99),
            "p99_last_tenth_ms": percentile(sorted(in_order[-tenth:]), 0.99),
            "service_cpu_ms_per_call": round(cpu * 1000 / len(latencies), 2)}


async def phases(infra: Infra, identity: Identity | None,
                 args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, float] | None]:
    from shared.kafka_admin import ensure_topics

    if identity is not None:
        # The service trusts the run's Keycloak; an agent's calls are not throttled (phase 2 with --think-ms 0
        # measures what the machine takes, and the per-agent limit would answer 429 long before that).
        os.environ.update(POSTLOAN_AUTH_ISSUER=identity.issuer, CONFIRMATION_NEXT_TASK_RATE="1000000/minute")
    await ensure_topics(infra.kafka_as())
    await migrate(ROOT / "services" / "confirmation" / "migrations", infra.service_database_url("confirmation"),
                  "confirmation")
    async with contextlib.AsyncExitStack() as stack:
        # Copies share the consumer group (its partitions split between them); the HTTP ports differ by 50.
        copies = [await stack.enter_async_context(service_process("confirmation", infra, args.port + 50 * n))
                  for n in range(args.copies)]
        service = copies[0]  # phase 2's agents call the first copy
        rounds = []
        for _ in range(args.rounds):  # fresh tasks each round; the median round is the one reported
            rounds.append(await outcomes_phase(infra, args.tasks, [c.pid for c in copies]))
            print("outcomes", rounds[-1], flush=True)
        outcomes = sorted(rounds, key=lambda r: r["requests_per_second"])[len(rounds) // 2]
        if len(rounds) > 1:
            outcomes = outcomes | {"rounds_per_second": [r["requests_per_second"] for r in rounds]}
        dispatch = None
        if identity is not None:
            dispatch = await dispatch_phase(infra, identity, args.open_tasks, args.held, args.agents, args.calls,
                                            args.think_ms, args.port, service.pid)
            print("dispatch", dispatch, flush=True)
    return outcomes, dispatch


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="outcomes timed in phase 1")
    parser.add_argument("--open-tasks", type=int, default=100_000, help="open tasks in the queue in phase 2")
    parser.add_argument("--held", type=int, default=5_000, help="of which held by other agents, due first")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--copies", type=int, default=1,
                        help="copies of the service in one consumer group, as a deployment scales it out")
    parser.add_argument("--rounds", type=int, default=1, help="phase 1 this many times (the median is reported)")
    parser.add_argument("--calls", type=int, default=2_000,
                        help="POST /tasks/next calls in all, in phase 2 (0: no phase 2, and no Keycloak)")
    parser.add_argument("--think-ms", type=float, default=500,
                        help="each agent's pause between its calls (0: back to back, the machine's capacity)")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "confirmation-issue12.json")
    args = parser.parse_args()
    async with provide() as infra:
        if args.calls:
            with provide_identity() as identity:
                outcomes, dispatch = await phases(infra, identity, args)
        else:
            outcomes, dispatch = await phases(infra, None, args)
    result = {"benchmark": "confirmation: RecordCallOutcome -> CoBorrowerConfirmed; POST /tasks/next",
              "machine": f"{os.cpu_count()} cores; broker, database, service and driver on the same machine",
              "kafka": infra.kafka_version, "postgres": infra.postgres_version,
              "outcomes": outcomes, "dispatch": dispatch}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
