"""Runs after the scenarios: every record a postloan service wrote during the run keeps CONTRACT.md 1.1.

The same checks as `contract_audit.py` (next to CONTRACT.md), applied to what the services emitted: records that
tests published by hand, in the role of another system, are not the services' doing and are left out.
"""

import json

from harness.infra import Infra
from shared import topics
from shared.envelope import UndecodableMessage, codec
from tests.support.contract import CONTRACT, MAX_VALUE, bound_violations
from tests.support.kafka import read_all
from tests.support.services import Process

EVENT_TOPICS = tuple(t for t in topics.ALL if t.endswith(".events"))


def violations(topic: str, key: bytes | None, value: bytes) -> list[str]:
    found = [f"value of {len(value)} bytes > {MAX_VALUE}"] if len(value) > MAX_VALUE else []
    try:
        event = codec(topic).decode(value)
    except UndecodableMessage as exc:
        return [*found, f"{exc.kind}: {exc.detail}"]
    document = json.loads(value)
    if key is None or key.decode() != event.subject:
        found.append(f"key {key!r} != subject {event.subject!r}")
    found += [f"{event.type} lacks data.{f}" for f in CONTRACT[topic].get(event.type, [])
              if f not in document["data"]]
    return found + bound_violations(document["data"])


def _from_a_service(value: bytes) -> bool:
    """Records the services wrote (source postloan/...); what tests wrote as strangers (anything at all) is not."""
    try:
        document = json.loads(value)
    except (ValueError, RecursionError):
        return False
    return isinstance(document, dict) and str(document.get("source", "")).startswith("postloan/")


async def test_every_record_the_services_wrote_keeps_the_contract(
    platform: dict[str, Process], infra: Infra
) -> None:
    records = [r for r in await read_all(infra.kafka_as(), EVENT_TOPICS) if _from_a_service(r.value)]
    by_type = {r.type for r in records}
    assert {"RequestSubmitted", "RequestApproved", "RequestRejected", "PolicyChanged", "CoBorrowerConfirmed",
            "SlotBooked", "BookingRejected", "CheckedIn", "NotificationSent"} <= by_type, by_type
    problems = [f"{r.topic}@{r.partition}:{r.offset} {v}" for r in records for v in violations(r.topic, r.key, r.value)]
    assert problems == [], f"{len(problems)} violations in {len(records)} records: {problems[:20]}"
