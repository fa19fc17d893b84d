"""Every list endpoint pages by `limit` and an opaque `cursor`: walking the pages gives each item once, in the order
of one big page, and the last page says so (`next_cursor` null). The services' clocks stand still, so many items
share a time: the cursors must break ties."""

from typing import Any

import httpx

from harness.builders import a_debit_day_change, a_loan, primary_of, ref
from shared import topics
from shared.contracts import loans as L
from shared.contracts import requests as R
from tests.integration.confirmation.helpers import submitted
from tests.integration.http.conftest import Served
from tests.integration.notifier.helpers import only, received
from tests.support.kafka import KafkaDriver
from tests.support.requests_driver import EVENTS, answer, next_event
from tests.support.wait import eventually, publish_loan


async def pages(client: httpx.AsyncClient, url: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Each page of a list, first to last; checks every page but the last is full."""
    found, cursor = [], None
    while True:
        response = await client.get(url, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items = body["items"] if "items" in body else body["queue"]
        found.append(items)
        cursor = body["next_cursor"]
        if cursor is None:
            return found
        assert len(items) == params["limit"], "only the last page may be short"


async def one_page(client: httpx.AsyncClient, url: str, **params: Any) -> list[dict[str, Any]]:
    body = (await client.get(url, params={**params, "limit": 1000})).json()
    assert body["next_cursor"] is None, "more than fits one page: the comparison needs a filter"
    return body["items"] if "items" in body else body["queue"]  # type: ignore[no-any-return]


def flat(walked: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [item for page in walked for item in page]


async def test_the_request_lists_walk_every_page(platform: dict[str, Served], kafka: KafkaDriver) -> None:
    service = platform["requests"]
    loans = [a_loan(co_borrowers=1) for _ in range(5)]
    for loan in loans:
        await publish_loan(kafka, loan, requests=service.runtime)
    async with kafka.watch(EVENTS) as watch:
        for loan in loans:
            first = await answer(kafka, watch, a_debit_day_change(loan, 20), loan_id=loan.loan_id)
        for day in (21, 22):  # the last loan's request withdrawn and asked again, twice: three requests of one loan
            withdraw = R.WithdrawRequest(command_id=ref("cmd"), request_id=first.data["request_id"],
                                         applicant_customer_id=primary_of(loan))
            await kafka.publish(topics.REQUESTS_COMMANDS, withdraw, subject=loan.loan_id)
            await next_event(watch, "RequestWithdrawn", first.data["request_id"])
            first = await answer(kafka, watch, a_debit_day_change(loan, day), loan_id=loan.loan_id)
    states = ["AWAITING_CONFIRMATION", "WITHDRAWN"]
    async with service.client() as client:
        whole = await one_page(client, "/requests", state=states)
        walked = await pages(client, "/requests", state=states, limit=2)
        of_loan = await pages(client, f"/loans/{loan.loan_id}/requests", limit=1)
        of_loan_whole = await one_page(client, f"/loans/{loan.loan_id}/requests")
    ids = [r["request_id"] for r in flat(walked)]
    assert flat(walked) == whole and len(ids) == len(set(ids))
    assert len(walked) == (len(whole) + 1) // 2 and len(whole) >= 7
    assert {r["loan_id"] for r in whole} >= {loan.loan_id for loan in loans}
    assert [len(p) for p in of_loan] == [1, 1, 1] and flat(of_loan) == of_loan_whole
    assert sorted(r["state"] for r in flat(of_loan)) == ["AWAITING_CONFIRMATION", "WITHDRAWN", "WITHDRAWN"]


async def test_the_task_queue_and_the_paper_report_walk_every_page(
    platform: dict[str, Served], kafka: KafkaDriver
) -> None:
    service = platform["confirmation"]
    branch = ref("B-PAGES")
    events = []
    for _ in range(5):
        loan = a_loan(co_borrowers=1).model_copy(update={"branch_id": branch})
        events.append(await submitted(kafka, service.runtime, loan, channel=R.Channel.HOTLINE, staff_id="S-1"))
    async with service.client() as client:
        async def all_owed() -> bool:
            return len(await one_page(client, "/paper/owed", branch_id=branch)) == 5

        await eventually(all_owed, what="paper owed for five staff submissions")
        whole = await one_page(client, "/paper/owed", branch_id=branch)
        walked = await pages(client, "/paper/owed", branch_id=branch, limit=2)
        csv_pages = await _csv_pages(client, branch, limit=2)
        queue = await pages(client, "/tasks", limit=3)
        queue_whole = (await client.get("/tasks", params={"limit": 1000})).json()
    assert [len(p) for p in walked] == [2, 2, 1] and flat(walked) == whole
    assert {p["request_id"] for p in whole} == {e.request_id for e in events}
    assert [len(p) for p in csv_pages] == [2, 2, 1]
    assert [row.split(",")[0] for page in csv_pages for row in page] == [p["request_id"] for p in whole]
    assert queue_whole["next_cursor"] is None and flat(queue) == queue_whole["queue"]
    task_requests = [t["request_id"] for t in flat(queue)]
    assert {e.request_id for e in events} <= set(task_requests)
    assert len({t["task_id"] for t in flat(queue)}) == len(task_requests)


async def _csv_pages(client: httpx.AsyncClient, branch: str, limit: int) -> list[list[str]]:
    found, cursor = [], None
    while True:
        params: dict[str, Any] = {"branch_id": branch, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/paper/owed.csv", params=params)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        found.append(response.text.splitlines()[1:])  # below the header row
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            return found


async def test_the_delivery_lists_walk_every_page(platform: dict[str, Served], kafka: KafkaDriver) -> None:
    service = platform["notifier"]
    channels = [L.NotificationChannel.APP_PUSH, L.NotificationChannel.WECHAT, L.NotificationChannel.EMAIL]
    loan = only(channels)
    customer = primary_of(loan)
    await kafka.publish(topics.LOANS_SNAPSHOTS, loan, subject=loan.loan_id)
    async with service.client() as client:
        await eventually(lambda: _known(client, customer), what="recipient projected")
        sent = [await kafka.publish(topics.REQUESTS_EVENTS, received(loan), subject=loan.loan_id) for _ in range(2)]

        async def all_delivered() -> bool:
            return len(await one_page(client, f"/customers/{customer}/deliveries")) == 6

        await eventually(all_delivered, what="six deliveries")
        whole = await one_page(client, f"/customers/{customer}/deliveries")
        walked = await pages(client, f"/customers/{customer}/deliveries", limit=4)
        of_event = await pages(client, f"/events/{sent[0].id}/deliveries", limit=1)
    assert [len(p) for p in walked] == [4, 2] and flat(walked) == whole
    assert [len(p) for p in of_event] == [1, 1, 1]
    assert sorted(d["channel"] for d in flat(of_event)) == sorted(c.value for c in channels)
    assert {d["event_id"] for d in flat(of_event)} == {sent[0].id}


async def _known(client: httpx.AsyncClient, customer: str) -> bool:
    return (await client.get(f"/recipients/{customer}")).status_code == 200
