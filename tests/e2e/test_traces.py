"""Traces across the services (issue 14), read from what each platform process exported over OTLP/HTTP to the run's
receiver (tests/support/otlp.py): no span is made by hand."""

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime

import httpx
import pytest

from harness.builders import ACCOUNT_DAY, a_debit_day_change, a_loan, primary_of, ref
from shared import topics
from shared.contracts import confirmation as C
from shared.contracts.loans import LoanSnapshot
from shared.envelope import encode, new_event
from tests.support.auth import agent
from tests.support.console import StaffBrowser
from tests.support.kafka import KafkaDriver, Seen, Watch, source_of
from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.services import Process
from tests.support.wait import eventually, publish_loan

Platform = dict[str, Process]
TRACED = ("postloan-requests", "postloan-confirmation", "postloan-notifier")


def trace_of(seen: Seen) -> str:
    """The trace id of a record's CloudEvent traceparent (version-traceid-spanid-flags)."""
    return str(seen.event["traceparent"]).split("-")[1]


async def spans_of(otlp: OtlpReceiver, trace_id: str,
                   until: Callable[[list[ReceivedSpan]], bool]) -> list[ReceivedSpan]:
    """The trace's spans once `until` holds for them (each process exports in batches, a fraction of a second
    apart)."""
    found: list[ReceivedSpan] = []

    async def complete() -> bool:
        nonlocal found
        found = [s for s in otlp.spans() if s.trace_id == trace_id]
        return until(found)

    await eventually(complete, timeout=20, what=f"the spans of trace {trace_id}")
    return found


def by_service(spans: list[ReceivedSpan]) -> dict[str, set[str]]:
    named: dict[str, set[str]] = {}
    for s in spans:
        named.setdefault(s.service, set()).add(s.name.split(" ")[0])
    return named


def every_hop_traced(spans: list[ReceivedSpan]) -> bool:
    """Consume, decide, outbox write and relay publish in each of requests, confirmation and notifier."""
    named = by_service(spans)
    return all({"consume", "decide", "outbox", "publish"} <= named.get(service, set()) for service in TRACED)


async def test_scenario_3_is_one_trace_from_the_channel_to_the_notification(
    platform: Platform, kafka: KafkaDriver, otlp: OtlpReceiver
) -> None:
    """Channel -> requests -> confirmation -> the agent's call, recorded later with no context -> confirmation ->
    requests -> notifier: every event of the request carries one trace id, and each process's spans of it (consume,
    decide, outbox write, relay publish) form one tree; the agent's own HTTP call is a trace of its own."""
    loan = a_loan(co_borrowers=1, debit_day=25, next_due_date=date(2020, 2, 25))
    customer, co = primary_of(loan), loan.borrowers[1].customer_id
    await publish_loan(kafka, loan, requests=platform["requests"].url)
    async with platform["notifier"].client() as notifier:
        await eventually(lambda: _ok(notifier, f"/recipients/{customer}"), what="notifier knows the customer")
    watched = (topics.REQUESTS_EVENTS, topics.CONFIRMATION_EVENTS, topics.NOTIFICATIONS_EVENTS)
    async with kafka.watch(*watched) as watch:
        await kafka.publish(topics.REQUESTS_COMMANDS, a_debit_day_change(loan, 28), subject=loan.loan_id)
        [submitted] = await watch.wait_for(lambda s: s.type == "RequestSubmitted" and s.key == loan.loan_id.encode())
        [call] = await watch.wait_for(lambda s: s.type == "ConfirmationCallRequested" and s.data["customer_id"] == co)
        task_id = call.data["task_id"]
        await _agent_takes(platform["confirmation"], task_id)
        await kafka.publish(topics.CONFIRMATION_COMMANDS, C.RecordCallOutcome(  # the call-centre tool: no context
            command_id=ref("cmd"), task_id=task_id, agent_id="a-trace", outcome=C.CallOutcome.CONFIRMED,
            recording_id=ref("REC"), called_at=ACCOUNT_DAY), subject=loan.loan_id)
        [confirmed] = await watch.wait_for(lambda s: s.type == "CoBorrowerConfirmed" and s.data["task_id"] == task_id)
        [approved] = await watch.wait_for(lambda s: s.type == "RequestApproved" and s.key == loan.loan_id.encode())
        told = await _told(watch, customer, "request_approved")

    trace_id = trace_of(submitted)
    assert {trace_of(s) for s in [call, confirmed, approved, *told]} == {trace_id}
    assert all(s.headers["traceparent"] == s.event["traceparent"] for s in [submitted, confirmed, approved, *told])

    spans = await spans_of(otlp, trace_id, every_hop_traced)
    assert {s.service for s in spans} >= set(TRACED)
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if not s.parent_id]
    orphans = [s for s in spans if s.parent_id and s.parent_id not in ids]
    assert [(r.service, r.name, r.kind) for r in roots] == [("postloan-requests", "consume requests.commands",
                                                             "CONSUMER")]
    assert orphans == [], [(s.service, s.name) for s in orphans]
    # The outcome was decided in the request's trace, linked to the command's own (a trace of its own).
    [outcome] = [s for s in spans if s.name == "decide RecordCallOutcome" and s.attributes.get("postloan.task_id")]
    assert outcome.links and all(linked_trace != trace_id for linked_trace, _ in outcome.links)
    assert {s.kind for s in spans if s.name.startswith("publish ")} == {"PRODUCER"}
    # The agent's HTTP call is a trace of its own: never part of the request's.
    taken = [s for s in otlp.spans() if s.service == "postloan-confirmation" and s.name == "POST /tasks/next"
             and s.kind == "SERVER" and s.attributes.get("http.response.status_code") == 200]
    assert taken and trace_id not in {s.trace_id for s in taken}
    _no_personal_data(spans, loan)  # (and none of the whole run's: tests/e2e/test_zz_logs.py)


async def test_a_callers_trace_context_is_continued_and_a_hostile_one_starts_a_new_trace(
    platform: Platform, kafka: KafkaDriver, otlp: OtlpReceiver
) -> None:
    """A channel that traces its own request sends its traceparent: the requests service continues that trace. A
    hostile one (malformed, oversized, not text) is ignored: the command is applied all the same, never
    dead-lettered, in a trace of its own."""
    callers_trace, callers_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    hostile: list[object] = ["00-" + "0" * 32 + "-" + "0" * 16 + "-01", f"00-{callers_trace}-{callers_span}",
                             "00-" + "a" * 10_000, 42, {"traceparent": "nested"}, None]
    sent = [(f"00-{callers_trace}-{callers_span}-01", "congo=t61rcWkgMzE")] + [(h, None) for h in hostile]
    loans = [a_loan(debit_day=25, next_due_date=date(2020, 2, 25)) for _ in sent]
    for loan in loans:
        await publish_loan(kafka, loan, requests=platform["requests"].url)
    async with kafka.watch(topics.REQUESTS_EVENTS, topics.dlq(topics.REQUESTS_COMMANDS)) as watch:
        for loan, (traceparent, tracestate) in zip(loans, sent, strict=True):
            await kafka.publish_raw(topics.REQUESTS_COMMANDS, _with_context(loan, traceparent, tracestate),
                                    key=loan.loan_id.encode())
        answers = {}
        for loan in loans:
            [answers[loan.loan_id]] = await watch.wait_for(
                lambda s, k=loan.loan_id.encode(): s.type == "RequestSubmitted" and s.key == k)
        assert not [s for s in watch.seen if s.topic == topics.dlq(topics.REQUESTS_COMMANDS)
                    and s.key in {loan.loan_id.encode() for loan in loans}]

    continued = answers[loans[0].loan_id]
    assert trace_of(continued) == callers_trace
    assert continued.event.get("tracestate") == "congo=t61rcWkgMzE"
    spans = await spans_of(otlp, callers_trace, lambda found: any(s.parent_id == callers_span for s in found))
    [consumed] = [s for s in spans if s.parent_id == callers_span]
    assert (consumed.service, consumed.name, consumed.kind) == (
        "postloan-requests", "consume requests.commands", "CONSUMER")
    fresh = {trace_of(answers[loan.loan_id]) for loan in loans[1:]}
    assert len(fresh) == len(hostile) and callers_trace not in fresh and "0" * 32 not in fresh


async def test_a_console_page_and_the_owning_services_calls_behind_it_are_one_trace(
    platform: Platform, otlp: OtlpReceiver
) -> None:
    """The policy page asks the requests service twice (the policy in force, its history): the console's CLIENT
    spans carry their context, so the requests service's SERVER spans join the page's trace under them."""
    browser = StaffBrowser(platform["console"].url)
    try:
        await browser.sign_in(f"t-trace-{ref('u')[-6:]}", "policy-admin")
        before = {s.span_id for s in otlp.spans()}
        assert (await browser.get("/policy")).status == 200
    finally:
        await browser.close()
    found: list[ReceivedSpan] = []

    async def joined() -> bool:
        nonlocal found
        spans = otlp.spans()
        # (a page may first send the browser round the realm and back: the answered one asked the service)
        pages = {s.trace_id for s in spans if s.span_id not in before and s.service == "postloan-console"
                 and s.kind == "SERVER" and s.name == "GET /policy"}
        for trace_id in pages:
            found = [s for s in spans if s.trace_id == trace_id]
            if {"GET /policy", "GET /policy/history"} <= {s.name for s in found if s.service == "postloan-requests"}:
                return True
        return False

    with contextlib.suppress(AssertionError):  # the assertion below says what was found instead
        await eventually(joined, what="the policy page's trace")
    assert {"GET /policy", "GET /policy/history"} <= {s.name for s in found if s.service == "postloan-requests"}, (
        found or [(s.service, s.kind, s.name) for s in otlp.spans() if s.span_id not in before][-30:])
    calls = {s.span_id for s in found if s.service == "postloan-console" and s.kind == "CLIENT"
             and s.name == "GET requests"}
    served = [s for s in found if s.service == "postloan-requests" and s.kind == "SERVER"]
    assert len(calls) == 2 and {s.parent_id for s in served} == calls


def _with_context(loan: LoanSnapshot, traceparent: object, tracestate: str | None) -> bytes:
    """A channel's command whose envelope carries `traceparent` (whatever it is) and `tracestate`, written as JSON
    by hand: the service's own encoder would never write a hostile one."""
    event = json.loads(encode(new_event(a_debit_day_change(loan, 28), source=source_of(topics.REQUESTS_COMMANDS),
                                        subject=loan.loan_id, time=datetime.now(UTC))))
    if traceparent is not None:
        event["traceparent"] = traceparent
    if tracestate is not None:
        event["tracestate"] = tracestate
    return json.dumps(event).encode()


def _no_personal_data(spans: list[ReceivedSpan], loan: LoanSnapshot) -> None:
    """No span names a borrower, their phone or ID number."""
    personal = {v for b in loan.borrowers for v in (b.name, b.phone, b.id_number) if v}
    text = json.dumps([[s.name, s.attributes] for s in spans], ensure_ascii=False)
    assert not [v for v in personal if v in text]


async def _agent_takes(confirmation: Process, task_id: str) -> None:
    """The agent asks for work (POST /tasks/next) until this call comes up (earliest deadline first)."""
    async with confirmation.client(agent("a-trace")) as centre:
        for _ in range(200):
            response = await centre.post("/tasks/next")
            assert response.status_code == 200, response.text
            if response.json()["task_id"] == task_id:
                return
    pytest.fail(f"task {task_id} never handed out")


async def _told(watch: Watch, customer: str, template: str) -> list[Seen]:
    return await watch.wait_for(lambda s: s.type == "NotificationSent" and s.key == customer.encode()
                                and s.data["template"] == template, count=2)


async def _ok(client: httpx.AsyncClient, path: str) -> bool:
    return (await client.get(path)).status_code == 200
