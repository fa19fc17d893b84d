"""What an operator sees when a service stops while commands keep arriving, read from a real Prometheus (the
project's launcher, the real alert rules, scraping the run's processes every second).

The requests service is stopped; commands for loans it knows pile up on requests.commands. Its own /metrics is
gone with it, but the console measures every postloan group's lag, so the group's lag is still scraped: it rises
above the lag alert's threshold and the alert goes pending. After a restart the service works the backlog off, the
lag falls back to 0 and the alert is gone. With POSTLOAN_UPDATE_SCREENS=1 the alerts page during the pending state
is kept in bench/results/issue14/ (as the browser tests keep their screenshots)."""

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import yaml

from harness.builders import a_debit_day_change, a_loan
from harness.infra import ROOT, Infra
from shared import principals, topics
from shared.contracts import Contract
from shared.contracts.loans import LoanSnapshot
from tests.conftest import FIGURES
from tests.support.auth import staff
from tests.support.kafka import KafkaDriver
from tests.support.prometheus import Prometheus, Sample, page_text
from tests.support.services import Process, stopped
from tests.support.wait import eventually

LAG_ALERT = "PostloanConsumerLagHigh"
GROUP = "postloan.requests"
TOPIC = topics.REQUESTS_COMMANDS
# The group's backlog on the topic as the rule computes it: per partition the max over the reporters (the
# service's copies and the console), summed over the partitions.
LAG = f'sum(max by (partition) (postloan_consumer_lag{{group="{GROUP}", topic="{TOPIC}"}}))'
ALERT = f'ALERTS{{alertname="{LAG_ALERT}", group="{GROUP}", topic="{TOPIC}"}}'
PENDING = f'ALERTS{{alertname="{LAG_ALERT}", group="{GROUP}", topic="{TOPIC}", alertstate="pending"}}'
DOWNSTREAM_LAG = f'sum(max by (group, partition) (postloan_consumer_lag{{topic="{topics.REQUESTS_EVENTS}"}}))'
PAGE = ROOT / "bench" / "results" / "issue14" / "prometheus-alerts-lag-pending"  # .json and .txt


def lag_threshold() -> int:
    """The threshold of the lag alert as deploy/prometheus/alerts.yml sets it (the test follows the rule)."""
    doc = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    [rule] = [r for g in doc["groups"] for r in g["rules"] if r.get("alert") == LAG_ALERT]
    found = re.fullmatch(r".*\(postloan_consumer_lag\)\)\s*>\s*(\d+)", rule["expr"].strip(), re.DOTALL)
    assert found, rule["expr"]
    return int(found.group(1))


async def test_a_stopped_service_s_lag_rises_to_a_pending_alert_and_falls_back_after_its_restart(
    platform: dict[str, Process], kafka: KafkaDriver, infra: Infra, prometheus: Prometheus
) -> None:
    threshold = lag_threshold()
    loans = [a_loan() for _ in range(threshold + threshold // 5)]
    # The loans first, while the service runs: a command consumed before its loan's snapshot would be refused.
    await _publish_all(kafka, topics.LOANS_SNAPSHOTS, [(loan, loan.loan_id) for loan in loans])
    await _all_projected(platform["requests"].url, loans)
    # Caught up before the stop, as Prometheus sees it: whatever rises after is this test's backlog.
    await _until(prometheus, LAG, lambda v: v == 0, what="the group's lag at 0 before the stop")

    async with contextlib.AsyncExitStack() as restart:
        async with stopped(platform, "requests", infra):
            async with _readings(prometheus) as rising:
                await _publish_all(kafka, TOPIC, [(a_debit_day_change(loan), loan.loan_id) for loan in loans])
                await _until(prometheus, LAG, lambda v: v > threshold, what=f"the lag above {threshold}", timeout=60)
            assert rising[0] < threshold < rising[-1], rising
            assert rising == sorted(rising), f"a stopped group's lag only rises: {rising}"

            await eventually(lambda: _present(prometheus, PENDING), what="the lag alert pending")
            [listed] = await _listed(prometheus)
            assert listed["state"] == "pending" and listed["labels"]["topic"] == TOPIC
            assert listed["labels"]["severity"] == "warning" and GROUP in listed["annotations"]["summary"]
            assert float(listed["value"]) > threshold
            if os.environ.get("POSTLOAN_UPDATE_SCREENS") == "1":
                await _keep_alerts_page(prometheus)
            # Read from before the restart (the backlog may be gone by the time the new process is ready).
            falling = await restart.enter_async_context(_readings(prometheus))
            restarting_at = time.time()
        zero_at = await _until(prometheus, LAG, lambda v: v == 0, what="the lag back at 0", timeout=120)
    assert falling[0] > threshold and falling[-1] == 0, falling
    assert falling == sorted(falling, reverse=True), f"no new command arrived, the lag only falls: {falling}"
    # The positive marker behind "no alert": the rule evaluated after Prometheus read the lag at 0.
    await eventually(lambda: _evaluated_after(prometheus, zero_at), what="the lag rule evaluated again")
    assert await prometheus.query(ALERT) == []
    assert await _listed(prometheus) == []
    # The answers to the backlog (two events a command) load the services that read them: the run goes on once
    # their groups have caught up, so that later tests' waits do not queue behind this test's records.
    await _until(prometheus, DOWNSTREAM_LAG, lambda v: v == 0, what="the readers of the answers caught up",
                 timeout=180)
    FIGURES["lag alert test: the stopped group's lag (records)"] = int(rising[-1])
    FIGURES["lag alert test: from the restart to a lag of 0 in Prometheus (s)"] = round(zero_at - restarting_at)


async def _keep_alerts_page(prometheus: Prometheus) -> None:
    """The alerts as data and the classic alerts page as text, for the record (bench/results/issue14)."""
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    alerts = json.loads(await prometheus.page("/api/v1/alerts"))
    PAGE.with_suffix(".json").write_text(json.dumps(alerts, indent=2) + "\n", encoding="utf-8")
    PAGE.with_suffix(".txt").write_text(page_text(await prometheus.page("/classic/alerts")), encoding="utf-8")


async def _publish_all(kafka: KafkaDriver, topic: str, records: list[tuple[Contract, str]]) -> None:
    """(data, subject) pairs published at once through the topic writer's one producer, made first (concurrent
    first uses would each make one)."""
    await kafka.producer(principals.writer_of(topic).name)
    await asyncio.gather(*(kafka.publish(topic, data, subject=subject) for data, subject in records))


async def _all_projected(requests_url: str, loans: list[LoanSnapshot]) -> None:
    missing = {loan.loan_id for loan in loans}
    async with httpx.AsyncClient(base_url=requests_url, timeout=10, auth=staff()) as client:

        async def known() -> bool:
            for loan_id in sorted(missing):
                if (await client.get(f"/loans/{loan_id}")).status_code != 200:
                    return False
                missing.discard(loan_id)
            return True

        await eventually(known, timeout=120, what=f"{len(loans)} loans projected")


async def _until(prometheus: Prometheus, expr: str, holds: Callable[[float], bool], *, what: str,
                 timeout: float = 30) -> float:
    """Waits until `expr` (one series) holds; returns the Prometheus time of the reading that did."""
    at: list[float] = []
    last: list[list[Sample]] = [[]]

    async def check() -> bool:
        last[0] = result = await prometheus.query(expr)
        if len(result) == 1 and holds(result[0].value):
            at.append(result[0].at)
        return bool(at)

    try:
        await eventually(check, timeout=timeout, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {expr} last read {last[0]}") from None
    return at[0]


async def _present(prometheus: Prometheus, expr: str) -> bool:
    return bool(await prometheus.query(expr))


async def _listed(prometheus: Prometheus) -> list[dict[str, Any]]:
    """The group's lag alerts on the alerts page."""
    return [a for a in await prometheus.alerts()
            if a["labels"]["alertname"] == LAG_ALERT and a["labels"].get("group") == GROUP]


async def _evaluated_after(prometheus: Prometheus, moment: float) -> bool:
    return await prometheus.last_evaluated(LAG_ALERT) > moment


@contextlib.asynccontextmanager
async def _readings(prometheus: Prometheus) -> AsyncIterator[list[float]]:
    """The group's lag as Prometheus reports it, read every 0.2 s while the block runs, and once after it."""
    values: list[float] = []

    async def read() -> None:
        while True:
            values.extend(s.value for s in await prometheus.query(LAG))
            await asyncio.sleep(0.2)

    task = asyncio.create_task(read())
    try:
        yield values
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        values.extend(s.value for s in await prometheus.query(LAG))
