"""Leases are enforced and the agent is the signed-in user (issue 13), with real Keycloak tokens: agent B cannot
record an outcome on agent A's task, nobody records one on an expired lease, the body cannot name another agent,
and /tasks/next is rate-limited per agent."""

from datetime import timedelta

import httpx

from harness.builders import ACCOUNT_DAY, a_loan
from harness.infra import Infra
from shared.clock import FixedClock
from shared.contracts import confirmation as C
from shared.runtime import ServiceRuntime
from tests.integration.confirmation.helpers import (
    EVENTS,
    answer_to,
    call_requested,
    outcome,
    stored_task,
    submitted,
    take,
)
from tests.support.auth import agent
from tests.support.kafka import KafkaDriver
from tests.support.services import http, running


async def _a_task(service: ServiceRuntime, kafka: KafkaDriver) -> tuple[str, str]:
    loan = a_loan(co_borrowers=1)
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        return (await call_requested(watch, request.request_id)).data["task_id"], loan.loan_id


async def test_agent_b_cannot_record_an_outcome_on_agent_a_s_task(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    task_id, loan_id = await _a_task(service, kafka)
    await take(api, "agent-a", task_id)
    body = {"outcome": "CONFIRMED", "recording_id": "REC-B"}
    by_b = await api.post(f"/tasks/{task_id}/outcome", json=body, auth=agent("agent-b"))
    assert by_b.status_code == 409, by_b.text
    assert (by_b.json()["detail"]["reason_code"], by_b.json()["detail"]["facts"]["held_by"]) == (
        "NOT_TASK_HOLDER", "agent-a")
    # Nor through the commands topic, naming agent B.
    async with kafka.watch(EVENTS) as watch:
        cmd = await outcome(kafka, task_id, loan_id, C.CallOutcome.CONFIRMED, agent="agent-b")
        assert (await answer_to(watch, cmd.command_id)).data["reason_code"] == "NOT_TASK_HOLDER"
    # Agent A, the holder, records it: the event names agent A (the token's user, not anything in a body).
    by_a = await api.post(f"/tasks/{task_id}/outcome", json=body, auth=agent("agent-a"))
    assert by_a.status_code == 200, by_a.text
    [confirmed] = [e for e in by_a.json()["events"] if e["type"] == "CoBorrowerConfirmed"]
    assert (confirmed["data"]["agent_id"], confirmed["data"]["recording_id"]) == ("agent-a", "REC-B")
    task = await stored_task(service, task_id)
    assert task is not None and task.state.value == "CONFIRMED"


async def test_a_body_naming_another_agent_is_refused_and_changes_nothing(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    task_id, _ = await _a_task(service, kafka)
    await take(api, "agent-c", task_id)
    forged = await api.post(f"/tasks/{task_id}/outcome", auth=agent("agent-c"),
                            json={"outcome": "DECLINED", "recording_id": "REC", "agent_id": "agent-d"})
    assert forged.status_code == 403 and "signed-in user" in forged.json()["detail"]
    assert (await api.post("/tasks/next", auth=agent("agent-c"), json={"agent_id": "agent-d"})).status_code == 403
    task = await stored_task(service, task_id)
    assert task is not None and (task.state.value, task.held_by) == ("OPEN", "agent-c")


async def test_an_expired_lease_records_nothing_even_for_its_last_holder(migrated: Infra, kafka: KafkaDriver) -> None:
    clock = FixedClock(ACCOUNT_DAY)
    async with running("confirmation", migrated, clock=clock, lease_s=60) as service, http(service) as api:
        task_id, _ = await _a_task(service, kafka)
        await take(api, "agent-e", task_id)
        clock.advance(timedelta(seconds=61))
        late = await api.post(f"/tasks/{task_id}/outcome", json={"outcome": "NO_ANSWER"}, auth=agent("agent-e"))
        assert late.status_code == 409 and late.json()["detail"]["reason_code"] == "NOT_TASK_HOLDER", late.text
        task = await stored_task(service, task_id)
        assert task is not None and (task.state.value, task.attempts) == ("OPEN", 0)


async def test_asking_for_work_too_often_is_a_429_with_retry_after(migrated: Infra) -> None:
    async with running("confirmation", migrated, next_task_rate="3/minute") as service, http(service) as api:
        answers = [await api.post("/tasks/next", auth=agent("agent-greedy")) for _ in range(4)]
        other = await api.post("/tasks/next", auth=agent("agent-calm"))
    assert [a.status_code in (200, 204) for a in answers] == [True, True, True, False]
    assert answers[3].status_code == 429 and 1 <= int(answers[3].headers["retry-after"]) <= 60
    assert other.status_code in (200, 204)  # the limit is per agent
