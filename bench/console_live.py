"""Live updates at 50 browsers: 50 server-sent-event clients on a running console's `GET /live`, one event
published, the time until every client has heard of the change (target: all 50 within 2 s).

    .venv/bin/python -m bench.console_live [--clients 50] [--rounds 10]

The contract with the console's web layer: `GET /live` answers `text/event-stream`, each change an event
`event: change` / `data: <area>`; a signed-in browser carries the cookie `postloan_console` holding a random token
whose SHA-256 (hex) is `console.web_sessions.id_hash`. The script signs its clients in by inserting such a session
row (role supervisor) directly, then publishes a `RequestSubmitted` on requests.events as `postloan-requests`.
Figures go to bench/results/issue15/console_live.json.
"""

import argparse
import asyncio
import hashlib
import json
import secrets
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from bench.support import service_process
from harness.builders import ACCOUNT_DAY
from harness.infra import ROOT, Infra, provide
from shared import topics
from shared.contracts import requests as R
from shared.db import migrate
from shared.envelope import new_event
from shared.outbox import OutgoingRecord

PORT = 18905
COOKIE = "postloan_console"


async def signed_in(infra: Infra) -> str:
    """A supervisor's session row, as the sign-in would leave it; returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    real_now = datetime.now(UTC)  # the session's expiry is judged on real time, whatever the service's clock
    conn = await asyncpg.connect(infra.service_database_url("console").replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute(
            "INSERT INTO console.web_sessions (id_hash, username, roles, access_token, access_expires_at, csrf, "
            "created_at, expires_at) VALUES ($1, 'bench-supervisor', $2, 'none', $3, $4, $5, $3)",
            hashlib.sha256(token.encode()).hexdigest(), ["supervisor"], real_now + timedelta(hours=1),
            secrets.token_urlsafe(16), real_now)
    finally:
        await conn.close()
    return token


class Client:
    """One browser's event stream: `connected` once the answer's headers came, `heard` per area's arrival time."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.connected = asyncio.Event()
        self.heard: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def run(self, base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=None),
                                     cookies={COOKIE: self.token}) as http, http.stream("GET", "/live") as answer:
            answer.raise_for_status()
            assert answer.headers["content-type"].startswith("text/event-stream"), answer.headers["content-type"]
            self.connected.set()
            event = None
            async for line in answer.aiter_lines():
                if line.startswith("event:"):
                    event = line.removeprefix("event:").strip()
                elif line.startswith("data:") and event == "change":
                    self.heard[line.removeprefix("data:").strip()] = time.perf_counter()
                    self.changed.set()


def submission() -> tuple[R.RequestSubmitted, str]:
    loan = f"L-LIVE-{uuid.uuid4().hex[:8]}"
    return R.RequestSubmitted(
        request_id=f"R-{uuid.uuid4().hex[:10]}", command_id=f"cmd-{uuid.uuid4().hex}", loan_id=loan,
        request_type=R.RequestType.DEBIT_DAY_CHANGE, applicant_customer_id=f"{loan}-P", channel=R.Channel.APP,
        co_borrowers=[], deadline=date(2020, 2, 10), paper_documents_required=False, policy_version="v1",
        branch_id="BR-LIVE", confirmation_attempts=3, received_at=ACCOUNT_DAY, current_debit_day=10,
        new_debit_day=20, current_due_date=date(2020, 2, 10), new_due_date=date(2020, 2, 20)), loan


async def one_round(producer: AIOKafkaProducer, clients: list[Client]) -> list[float]:
    """Publishes one submission; the seconds until each client heard `requests` (inf: not within 10 s)."""
    for c in clients:
        c.heard.pop("requests", None)
    data, loan = submission()
    record = OutgoingRecord.of_event(topics.REQUESTS_EVENTS, new_event(
        data, source="postloan/requests/bench", subject=loan, time=ACCOUNT_DAY))
    started = time.perf_counter()
    await producer.send_and_wait(topics.REQUESTS_EVENTS, record.value, key=record.key,
                                 headers=[(k, v.encode()) for k, v in record.headers])
    deadline = started + 10
    while any("requests" not in c.heard for c in clients) and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    return [c.heard.get("requests", float("inf")) - started for c in clients]


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "issue15" / "console_live.json")
    args = parser.parse_args()
    async with provide() as infra:
        from shared.kafka_admin import ensure_topics

        await ensure_topics(infra.kafka_as())
        await migrate(ROOT / "services" / "console" / "migrations", infra.service_database_url("console"), "console")
        async with service_process("console", infra, PORT):
            clients = [Client(await signed_in(infra)) for _ in range(args.clients)]
            streams = [asyncio.create_task(c.run(f"http://127.0.0.1:{PORT}")) for c in clients]
            await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 30)
            producer = AIOKafkaProducer(**infra.kafka_as("postloan-requests").client_kwargs(), acks="all",
                                        enable_idempotence=True)
            await producer.start()
            try:
                rounds = [await one_round(producer, clients) for _ in range(args.rounds)]
            finally:
                await producer.stop()
                for s in streams:
                    s.cancel()
    slowest = [max(r) for r in rounds]
    figures = {
        "clients": args.clients, "rounds": args.rounds,
        "all_heard_s": {"p50": round(statistics.median(slowest), 3), "max": round(max(slowest), 3)},
        "each_heard_s_p50": round(statistics.median([s for r in rounds for s in r]), 3),
        "target_all_within_s": 2.0, "met": max(slowest) <= 2.0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
