"""What the branch desk reads before an operator edits (issue 15), with real Keycloak tokens: every branch, a
branch's plan as PUT /branches/{id}/plan takes it, with its date overrides from the service's today on, and a day's
bookings (those a cut left over capacity among them)."""

from datetime import date, time
from typing import Any

import httpx
import pytest

from shared.clock import FixedClock
from shared.contracts.appointments import SetBranchPlan
from shared.runtime import ServiceRuntime
from tests.integration.appointments.steps import EVENTS, MONDAY, a_plan, answer, booking, branch, set_clock, shanghai
from tests.support.auth import agent, as_user
from tests.support.kafka import KafkaDriver
from tests.support.services import http

OPERATOR = ("t-branch-operator", "branch-operator")
TUESDAY = date(2020, 2, 4)  # the day after the account's first day


def _body(plan: SetBranchPlan) -> dict[str, Any]:
    """The body of PUT /branches/{id}/plan: the command's terms without its id and branch."""
    return plan.model_dump(mode="json", exclude={"command_id", "branch_id"})


async def test_the_desk_reads_the_branches_and_a_plan_as_its_form_takes_it_with_the_overrides_from_today_on(
    service: ServiceRuntime, clock: FixedClock
) -> None:
    plan = a_plan(daily_cap=9, booking_window_days=21, name="Futian 福田支行")
    body = _body(plan)
    path = f"/branches/{plan.branch_id}"
    async with http(service, auth=as_user(*OPERATOR)) as operator:
        assert (await operator.put(f"{path}/plan", json=body)).status_code == 200
        for day, override in ((TUESDAY, {"closed": True}), (MONDAY, {"daily_cap": 3})):
            assert (await operator.put(f"{path}/overrides/{day.isoformat()}", json=override)).status_code == 200
        listed = await operator.get("/branches")
        shown = await operator.get(f"{path}/plan")
        set_clock(clock, shanghai(date(2020, 2, 5), time(0, 1)))  # Tuesday's override is behind us now
        later = (await operator.get(f"{path}/plan")).json()
    assert listed.status_code == 200 and shown.status_code == 200, (listed.text, shown.text)
    [branch] = [b for b in listed.json() if b["branch_id"] == plan.branch_id]
    assert branch == {"branch_id": plan.branch_id, "name": "Futian 福田支行", "address": "1 Test Road",
                      "timezone": "Asia/Shanghai"}
    ids = [b["branch_id"] for b in listed.json()]
    assert ids == sorted(ids)
    seen = shown.json()
    assert {k: seen[k] for k in body} == body  # what the form sends back unchanged
    assert (seen["today"], [(o["date"], o["closed"], o["daily_cap"]) for o in seen["overrides"]]) == (
        "2020-02-03", [("2020-02-04", True, None), ("2020-02-10", False, 3)])
    assert (later["today"], [o["date"] for o in later["overrides"]]) == ("2020-02-05", ["2020-02-10"])


@pytest.mark.parametrize(("path", "allowed", "refused"), [
    ("/branches", ("branch-operator", "supervisor", "hotline", "auditor"), ("agent", "paper-clerk", "policy-admin")),
    ("/branches/BR-ROLES/plan", ("branch-operator", "supervisor", "auditor"),
     ("agent", "hotline", "paper-clerk", "policy-admin")),
])
async def test_each_read_needs_its_roles(
    service: ServiceRuntime, api: httpx.AsyncClient, path: str, allowed: tuple[str, ...], refused: tuple[str, ...]
) -> None:
    async with http(service, auth=as_user(*OPERATOR)) as operator:
        assert (await operator.put("/branches/BR-ROLES/plan", json=_body(a_plan()))).status_code == 200
    answers = {r: (await api.get(path, auth=as_user(f"t-br-{r}", r))).status_code for r in allowed + refused}
    assert answers == {**dict.fromkeys(allowed, 200), **dict.fromkeys(refused, 403)}
    assert (await api.get(path, auth=None)).status_code == 401
    assert (await api.get("/branches/BR-NOWHERE/plan", auth=agent("t-agent-br"))).status_code == 403
    assert (await api.get("/branches/BR-NOWHERE/plan")).status_code == 404


async def test_a_cut_below_the_bookings_names_the_slot_and_the_day_s_bookings_show_which_are_left_over(
    service: ServiceRuntime, api: httpx.AsyncClient, kafka: KafkaDriver
) -> None:
    async with kafka.watch(EVENTS) as watch:
        plan = await branch(kafka, watch, capacity=4)
        booked = [await answer(kafka, watch, booking(plan, at=time(10))) for _ in range(3)]
    assert [b.type for b in booked] == ["SlotBooked"] * 3
    async with http(service, auth=as_user(*OPERATOR)) as operator:
        cut = await operator.put(f"/branches/{plan.branch_id}/plan", json=_body(a_plan(capacity=1)))
        first = await operator.get(f"/branches/{plan.branch_id}/bookings", params={"date": MONDAY.isoformat(),
                                                                                   "limit": 2})
        rest = await operator.get(f"/branches/{plan.branch_id}/bookings", params={
            "date": MONDAY.isoformat(), "limit": 2, "cursor": first.json()["next_cursor"]})
    [changed] = cut.json()["events"]
    assert changed["data"]["over_capacity"] == [{"date": MONDAY.isoformat(), "start_time": "10:00", "booked": 3,
                                                 "capacity": 1}]
    listed = first.json()["items"] + rest.json()["items"]
    # By slot, then in the order made (the service's clock stands still here: then by id), across the two pages.
    assert sorted(b["booking_id"] for b in listed) == sorted(b.data["booking_id"] for b in booked)
    assert listed == sorted(listed, key=lambda b: (b["start_time"], b["created_at"], b["booking_id"]))
    assert rest.json()["next_cursor"] is None and all(b["start_time"] == "10:00" for b in listed)
    assert not any(b.data["booking_code"] in first.text + rest.text for b in booked)  # codes open the check-in
    for role in ("agent", "hotline", "paper-clerk"):
        refused = await api.get(f"/branches/{plan.branch_id}/bookings", params={"date": MONDAY.isoformat()},
                                auth=as_user(f"t-br-{role}", role))
        assert refused.status_code == 403
    assert (await api.get("/branches/BR-NOWHERE/bookings", params={"date": MONDAY.isoformat()})).status_code == 404
