"""/ready tells the truth: 503 while the outbox's oldest unsent row is older than the threshold, 200 once the
relay has caught up (the requests service as vehicle, real Kafka and PostgreSQL)."""

import json
import uuid
import zlib

import asyncpg
import httpx

from harness.infra import Infra
from shared import topics
from shared.retention import Pruner
from tests.support.kafka import KafkaDriver
from tests.support.services import http, running
from tests.support.wait import eventually


async def test_ready_is_503_while_the_oldest_unsent_row_is_too_old_and_200_once_it_is_sent(
    migrated: Infra, kafka: KafkaDriver
) -> None:
    key = f"K-{uuid.uuid4().hex[:8]}"
    # The test holds the relay's lock, as a stuck relay copy would: the service's own relay cannot lead.
    holder = await asyncpg.connect(migrated.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", zlib.crc32(b"requests.outbox-relay"))
        # Written ten minutes ago and never sent: the head of the relay's queue (the lowest unsent id).
        await holder.execute(
            "INSERT INTO requests.outbox (topic, key, value, created_at)"
            " VALUES ($1, $2, $3, now() - interval '10 min')",
            topics.REQUESTS_EVENTS, key.encode(), json.dumps({"n": 1}).encode())
        async with running("requests", migrated, ready_max_outbox_age_s=300) as service, http(service) as api, \
                kafka.watch(topics.REQUESTS_EVENTS) as watch:
            stuck = await api.get("/ready")
            assert stuck.status_code == 503, stuck.text
            body = stuck.json()
            assert body["outbox_keeping_up"] is False and body["relay_running"] is True
            assert body["outbox_backlog"] >= 1 and body["outbox_oldest_unsent_s"] >= 600
            assert body["ready_max_outbox_age_s"] == 300
            assert isinstance(body["outbox_parked"], int) and isinstance(body["timers_parked"], int)
            assert any(isinstance(w, Pruner) for w in service.workers)  # retention runs with every service

            await holder.execute("SELECT pg_advisory_unlock($1)", zlib.crc32(b"requests.outbox-relay"))
            await watch.wait_for(lambda s: s.key == key.encode(), timeout=30)
            await eventually(lambda: _ready(api), timeout=30, what="/ready back to 200")
            body = (await api.get("/ready")).json()
            assert body["outbox_keeping_up"] is True
            assert body["outbox_oldest_unsent_s"] is None or body["outbox_oldest_unsent_s"] <= 300
    finally:
        await holder.close()


async def _ready(api: httpx.AsyncClient) -> bool:
    return (await api.get("/ready")).status_code == 200
