"""Talking to the requests service the way channels, staff tools and the call centre do."""

from typing import Any

from harness.builders import ACCOUNT_DAY, ref
from shared import topics
from shared.contracts import Contract
from shared.contracts import confirmation as C
from tests.support.kafka import KafkaDriver, Seen, Watch

EVENTS = topics.REQUESTS_EVENTS


async def answer(kafka: KafkaDriver, watch: Watch, command: Contract, *, loan_id: str) -> Seen:
    """Publishes a command on requests.commands and returns the first event answering it."""
    command_id = command.command_id  # type: ignore[attr-defined]
    await kafka.publish(topics.REQUESTS_COMMANDS, command, subject=loan_id)
    [seen] = await watch.wait_for(
        lambda s: s.topic == EVENTS and s.data.get("command_id") == command_id
        and s.type in ("RequestSubmitted", "RequestRejected"))
    return seen


async def next_event(watch: Watch, kind: str, request_id: str, timeout: float = 20.0) -> Seen:
    [seen] = await watch.wait_for(lambda s: s.type == kind and s.data.get("request_id") == request_id,
                                  timeout=timeout)
    return seen


async def co_borrower_says(kafka: KafkaDriver, submitted: Seen, customer_id: str, outcome: str) -> Contract:
    """What the confirmation service publishes after the agent's recorded call."""
    d = submitted.data
    common: dict[str, Any] = {"task_id": ref("T"), "request_id": d["request_id"], "loan_id": d["loan_id"],
                              "customer_id": customer_id, "agent_id": "A-007"}
    event: Contract
    if outcome == "CONFIRMED":
        event = C.CoBorrowerConfirmed(**common, recording_id=ref("REC"), confirmed_at=ACCOUNT_DAY)
    elif outcome == "DECLINED":
        event = C.CoBorrowerDeclined(**common, recording_id=ref("REC"), declined_at=ACCOUNT_DAY)
    else:
        event = C.CoBorrowerUnreachable(**common, attempts=3, unreachable_at=ACCOUNT_DAY)
    await kafka.publish(topics.CONFIRMATION_EVENTS, event, subject=d["loan_id"], source="postloan/confirmation")
    return event


