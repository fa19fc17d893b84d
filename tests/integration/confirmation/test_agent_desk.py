"""The agent desk's reads (issue 15), with real Keycloak tokens: the task taken shows whom to call (name and
number) and the calls made before, to its holder only, again after a page reload (GET /tasks/{id}); GET /tasks/mine
lists what the agent holds now and the outcomes they recorded on the service's day, without the number or name of
a task they no longer hold."""

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from harness.builders import ACCOUNT_DAY, a_loan
from harness.infra import Infra
from shared.clock import FixedClock
from shared.contracts import loans as L
from shared.runtime import ServiceRuntime
from tests.integration.confirmation.helpers import EVENTS, call_requested, submitted, take
from tests.support.auth import agent, as_user
from tests.support.kafka import KafkaDriver
from tests.support.services import http, running


async def _a_task(service: ServiceRuntime, kafka: KafkaDriver) -> tuple[str, L.LoanSnapshot]:
    """A task on a co-borrower of a name and number of their own (other tests' tasks the agent holds have others)."""
    loan = a_loan(co_borrowers=1)
    unique = uuid.uuid4().int
    co = loan.borrowers[1].model_copy(update={"name": f"陳{unique % 10**6:06d}", "phone": f"139{unique % 10**8:08d}"})
    loan = loan.model_copy(update={"borrowers": [loan.borrowers[0], co]})
    async with kafka.watch(EVENTS) as watch:
        request = await submitted(kafka, service, loan)
        return (await call_requested(watch, request.request_id)).data["task_id"], loan


def _without_whom(answer: httpx.Response, co: L.Borrower) -> bool:
    """Neither the number nor the name of the co-borrower anywhere in the answer."""
    return co.phone not in answer.text and co.name not in answer.text


async def test_the_desk_shows_whom_to_call_and_the_calls_before_to_the_holder_only(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    task_id, loan = await _a_task(service, kafka)
    co = loan.borrowers[1]
    first = await take(api, "desk-a", task_id)
    assert (first["name"], first["phone"], first["previous_attempts"], first["loan_id"]) == (
        co.name, co.phone, [], loan.loan_id)
    reloaded = await api.get(f"/tasks/{task_id}", auth=agent("desk-a"))
    assert reloaded.status_code == 200 and reloaded.json() == first
    no_answer = await api.post(f"/tasks/{task_id}/outcome", json={"outcome": "NO_ANSWER"}, auth=agent("desk-a"))
    assert no_answer.status_code == 200, no_answer.text
    gone = await api.get(f"/tasks/{task_id}", auth=agent("desk-a"))  # the retry released it
    assert gone.status_code == 403 and _without_whom(gone, co)

    again = await take(api, "desk-b", task_id)
    [before] = again["previous_attempts"]
    assert (again["attempts"], again["name"], again["phone"]) == (1, co.name, co.phone)
    assert (before["outcome"], before["agent_id"], before["recording_id"]) == ("NO_ANSWER", "desk-a", None)
    assert before["called_at"].startswith(ACCOUNT_DAY.date().isoformat())
    held_by_b = await api.get(f"/tasks/{task_id}", auth=agent("desk-b"))
    assert held_by_b.status_code == 200 and held_by_b.json()["previous_attempts"] == again["previous_attempts"]
    for stranger in (agent("desk-a"), as_user("t-supervisor-desk", "supervisor"), as_user("t-hotline-desk", "hotline")):
        refused = await api.get(f"/tasks/{task_id}", auth=stranger)
        assert refused.status_code == 403 and _without_whom(refused, co), refused.text
    assert (await api.get("/tasks/T-no-such-task", auth=agent("desk-b"))).status_code == 404

    mine_a = await api.get("/tasks/mine", auth=agent("desk-a"))
    assert mine_a.status_code == 200 and _without_whom(mine_a, co), mine_a.text
    assert task_id not in [t["task_id"] for t in mine_a.json()["held"]]
    [recorded] = [c for c in mine_a.json()["recorded_today"] if c["task_id"] == task_id]
    assert (recorded["outcome"], recorded["task_state"], recorded["customer_id"], recorded["loan_id"]) == (
        "NO_ANSWER", "OPEN", co.customer_id, loan.loan_id)
    mine_b = (await api.get("/tasks/mine", auth=agent("desk-b"))).json()
    [holding] = [t for t in mine_b["held"] if t["task_id"] == task_id]
    assert (holding["phone"], holding["name"], len(holding["previous_attempts"])) == (co.phone, co.name, 1)

    confirmed = await api.post(f"/tasks/{task_id}/outcome", json={"outcome": "CONFIRMED", "recording_id": "REC-D"},
                               auth=agent("desk-b"))
    assert confirmed.status_code == 200, confirmed.text
    after = await api.get("/tasks/mine", auth=agent("desk-b"))
    assert _without_whom(after, co) and task_id not in [t["task_id"] for t in after.json()["held"]]
    [done] = [c for c in after.json()["recorded_today"] if c["task_id"] == task_id]
    assert (done["outcome"], done["task_state"], done["recording_id"]) == ("CONFIRMED", "CONFIRMED", "REC-D")
    assert (await api.get("/tasks/mine", auth=as_user("t-supervisor-desk", "supervisor"))).status_code == 403


async def test_my_tasks_today_is_the_service_s_day_in_shanghai(migrated: Infra, kafka: KafkaDriver) -> None:
    clock = FixedClock(ACCOUNT_DAY)  # 09:30 in Shanghai
    async with running("confirmation", migrated, clock=clock, retry_pause_s=0) as service, http(service) as api:
        task_id, _ = await _a_task(service, kafka)
        await take(api, "desk-day", task_id)
        answered = await api.post(f"/tasks/{task_id}/outcome", json={"outcome": "NO_ANSWER"}, auth=agent("desk-day"))
        assert answered.status_code == 200, answered.text

        async def today() -> dict[str, Any]:
            mine = await api.get("/tasks/mine", auth=agent("desk-day"))
            assert mine.status_code == 200, mine.text
            return mine.json()  # type: ignore[no-any-return]

        clock.advance(timedelta(hours=14, minutes=29))  # 23:59 in Shanghai: still the same day
        late = await today()
        assert late["day"] == "2020-02-03" and [c["task_id"] for c in late["recorded_today"]] == [task_id]
        clock.advance(timedelta(minutes=1))  # midnight in Shanghai (16:00 UTC): a new day, nothing recorded yet
        assert await today() == {"day": "2020-02-04", "held": [], "recorded_today": []}


# Any id, sent as one path segment; "mine" and the dot segments name other routes, not a task.
IDS = (st.text(min_size=1, max_size=80) | st.from_regex(r"T-[0-9a-f-]{1,40}", fullmatch=True)).filter(
    lambda s: s not in ("mine", ".", ".."))


@settings(max_examples=40, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task_id=IDS)
@example(task_id="/")  # `/tasks/%2F` decodes to `/tasks//`: once redirected (307) to `/tasks`
async def test_a_task_id_an_agent_makes_up_gets_no_task(api: httpx.AsyncClient, task_id: str) -> None:
    answer = await api.get(f"/tasks/{quote(task_id, safe='')}", auth=agent("desk-guess"))
    assert answer.status_code in (400, 404, 422), (task_id, answer.status_code, answer.text)
