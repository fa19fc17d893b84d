"""Branch staff over HTTP against the real broker, database and Keycloak: plans, date overrides and check-in at
the counter are applied by the same handlers as the commands on appointments.commands, under the signed-in
operator; other roles, and no token, are refused."""

from datetime import time, timedelta
from typing import Any

import httpx
import pytest

from shared.clock import FixedClock
from shared.runtime import ServiceRuntime
from tests.integration.appointments.steps import EVENTS, MONDAY, a_plan, answer, booking, set_clock, shanghai
from tests.support.auth import as_user
from tests.support.kafka import KafkaDriver
from tests.support.services import http

OPERATOR = ("t-branch-operator", "branch-operator")


def _plan_body(**extra: Any) -> dict[str, Any]:
    return a_plan(**extra).model_dump(mode="json", exclude={"command_id", "branch_id"})


async def test_an_operator_sets_a_plan_and_closes_a_day_over_http_and_the_published_events_say_so(
    service: ServiceRuntime, kafka: KafkaDriver
) -> None:
    branch_id = a_plan().branch_id
    async with http(service, auth=as_user(*OPERATOR)) as operator, kafka.watch(EVENTS) as watch:
        planned = await operator.put(f"/branches/{branch_id}/plan", json=_plan_body(daily_cap=7))
        closed = await operator.put(f"/branches/{branch_id}/overrides/{MONDAY.isoformat()}", json={"closed": True})
        assert planned.status_code == 200, planned.text
        assert closed.status_code == 200, closed.text
        command_id = closed.json()["command_id"]
        [published] = await watch.wait_for(lambda s: s.data.get("command_id") == command_id, timeout=30)
        days = (await operator.get(f"/branches/{branch_id}/availability",
                                   params={"from": MONDAY.isoformat(), "to": (MONDAY + timedelta(days=1)).isoformat()}))
    assert [e["type"] for e in planned.json()["events"]] == ["BranchPlanChanged"]
    assert published.type == "BranchPlanChanged" and published.data["branch_id"] == branch_id
    monday, tuesday = days.json()["days"]
    assert (monday["closed"], tuesday["closed"], tuesday["daily_cap"]) == (True, False, 7)


async def test_an_operator_checks_a_booked_customer_in_at_the_counter_and_a_wrong_code_is_refused(
    service: ServiceRuntime, kafka: KafkaDriver, clock: FixedClock
) -> None:
    plan = a_plan()
    async with kafka.watch(EVENTS) as watch:
        assert (await answer(kafka, watch, plan)).type == "BranchPlanChanged"
        booked = await answer(kafka, watch, booking(plan, at=time(10)))
    set_clock(clock, shanghai(MONDAY, time(9, 45)))
    async with http(service, auth=as_user(*OPERATOR)) as operator:
        wrong = await operator.post(f"/branches/{plan.branch_id}/check-ins", json={"booking_code": "NOT-A-CODE"})
        right = await operator.post(f"/branches/{plan.branch_id}/check-ins",
                                    json={"booking_code": booked.data["booking_code"]})
    assert (wrong.status_code, wrong.json()["detail"]["reason_code"]) == (409, "UNKNOWN_CODE")
    assert right.status_code == 200, right.text
    [checked] = right.json()["events"]
    assert (checked["type"], checked["data"]["booking_id"], checked["data"]["ticket_number"]) == (
        "CheckedIn", booked.data["booking_id"], "P001")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/branches/BR-X/plan", _plan_body()),
    ("PUT", f"/branches/BR-X/overrides/{MONDAY.isoformat()}", {"closed": True}),
    ("POST", "/branches/BR-X/check-ins", {"booking_code": "ABC123"}),
])
async def test_branch_staff_actions_need_an_operator_token(
    service: ServiceRuntime, method: str, path: str, body: dict[str, Any]
) -> None:
    async with http(service, auth=as_user("t-agent-only", "agent")) as agent:
        forbidden = await agent.request(method, path, json=body)
    async with http(service) as anyone:
        anyone.auth = httpx.Auth()  # sends no Authorization header
        anonymous = await anyone.request(method, path, json=body)
    async with http(service, auth=as_user(*OPERATOR)) as operator:  # the positive marker: the route is there
        allowed = await operator.request(method, path, json=body)
    assert forbidden.status_code == 403
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert allowed.status_code in (200, 409)  # applied, or refused by the service's rules (no such branch)
