"""The platform's processes as Prometheus scrapes them: each says who it is and that it is ready, each relay leads
(one copy each), each reports its own group's lag, and the console reports every service's group. A request
followed end to end shows in the counters of the services it went through."""

from collections.abc import Awaitable, Callable

import httpx

from harness.builders import a_debit_day_change, a_loan
from services import SERVICES
from shared import topics
from tests.support.kafka import KafkaDriver
from tests.support.metrics import Samples, grew, labels_of, parse, value
from tests.support.services import Process
from tests.support.wait import eventually, publish_loan


async def scrape_all(platform: dict[str, Process]) -> dict[str, Samples]:
    # No token: /metrics is open, like /health. A process busy with a backlog may take seconds to answer.
    async with httpx.AsyncClient(timeout=30) as client:
        return {name: parse((await client.get(f"{p.url}/metrics")).text) for name, p in platform.items()}


async def test_every_process_says_who_it_is_is_ready_and_leads_its_relay(platform: dict[str, Process]) -> None:
    async def settled() -> bool:  # a process restarted by an earlier test takes its relay lock back within seconds
        found = await scrape_all(platform)
        return all(value(found[s], "postloan_ready") == 1 and value(found[s], "postloan_relay_leader") == 1
                   for s in SERVICES)

    await eventually(settled, what="every process ready and leading its relay")
    scraped = await scrape_all(platform)
    for name in SERVICES:
        [info] = labels_of(scraped[name], "postloan_service_info")
        assert info["service"] == name


async def test_the_console_measures_the_lag_of_every_services_group(platform: dict[str, Process]) -> None:
    async def measured() -> bool:
        groups = {labels["group"] for labels in labels_of((await scrape_all(platform))["console"],
                                                          "postloan_consumer_lag")}
        return groups == {f"postloan.{s}" for s in SERVICES}

    await eventually(measured, what="the console reporting every group's lag")


async def test_a_request_shows_in_the_counters_of_the_services_it_went_through(
    platform: dict[str, Process], kafka: KafkaDriver
) -> None:
    loan = a_loan()
    await publish_loan(kafka, loan, requests=platform["requests"].url)
    before = await scrape_all(platform)
    async with kafka.watch(topics.REQUESTS_EVENTS) as watch:
        await kafka.publish(topics.REQUESTS_COMMANDS, a_debit_day_change(loan, 25), subject=loan.loan_id)
        await watch.wait_for(lambda s: s.type == "RequestApproved" and s.key == loan.loan_id.encode())

    def counted(service: str, name: str, **labels: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return grew(before[service], (await scrape_all(platform))[service], name, **labels) >= 1
        return check

    await eventually(counted("requests", "postloan_decisions_total", type="RequestApproved", reason_code="",
                             channel=""), what="the approval counted by requests")
    await eventually(counted("requests", "postloan_command_to_event_seconds_count", type="SubmitDebitDayChange"),
                     what="the command timed")
    await eventually(counted("notifier", "postloan_records_consumed_total", topic=topics.REQUESTS_EVENTS,
                             type="RequestApproved", outcome="applied"), what="the notifier applying the approval")
    await eventually(counted("console", "postloan_records_consumed_total", topic=topics.REQUESTS_EVENTS,
                             type="RequestApproved", outcome="applied"), what="the console applying the approval")
    await eventually(counted("notifier", "postloan_decisions_total", type="NotificationSent", reason_code="",
                             channel="SMS"), what="a notification counted by its channel")
