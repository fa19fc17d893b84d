"""Issue 16: PostgreSQL restarted with `pg_ctl restart -m immediate` (deploy/postgres.sh crash-restart) while
commands flow through the services, each a separate process: every copy reconnects by itself (the same processes,
no crash loop, /ready again), every command is answered exactly once and nothing is lost.

The run's PostgreSQL serves the whole pytest process: this test belongs to the fault stage's own process, and it
leaves the server up (the restart waits for it to accept connections again)."""

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.infra import ROOT, Infra
from tests.faults.support import (
    EVENT_TOPICS,
    Database,
    Fleet,
    LoadDriver,
    a_workload,
    all_ready,
    consumed,
    eventually,
    scrape,
    settle,
)
from tests.support.kafka import KafkaDriver

pytestmark = pytest.mark.faults

COPIES = {"requests": 1, "confirmation": 1, "appointments": 1, "notifier": 1}
PER_SECOND = 60
# What a copy logs when its database went away under it (shared/messaging.py, shared/relay.py, shared/timers.py).
CUT_OFF = ("transient_failure_retrying", "relay_interrupted")


async def test_postgres_restarted_immediately_under_load_loses_nothing_and_does_nothing_twice(
    fault_infra: Infra, fault_kafka: KafkaDriver, fault_ports: Iterator[int], tmp_path: Path
) -> None:
    if not fault_infra.how.startswith("native"):
        pytest.skip(f"restarts the server deploy/postgres.sh runs; this run's servers came from {fault_infra.how}")
    access, db = fault_infra.kafka_as(), Database(fault_infra)
    work = a_workload(debit_day_changes=500, bookings=120)
    fleet = Fleet(fault_infra, tmp_path, fault_ports)
    try:
        await fleet.start(COPIES)
        pids = [p.popen.pid for p in fleet.running()]
        driver = LoadDriver(fault_kafka)
        await driver.prepare(work, db)
        async with fault_kafka.watch(*EVENT_TOPICS) as watch:
            sending = asyncio.create_task(driver.send(work.commands, per_second=PER_SECOND))
            await driver.reached(len(work.commands) // 3)
            cut_before = sum(map(fleet.log_count, CUT_OFF))
            caught = work.commands[:driver.sent]
            restarted_at = time.time()
            restart = await asyncio.to_thread(_crash_restart)
            restart_s = time.time() - restarted_at
            await eventually(lambda: all_ready(fleet.copies), timeout=120, what="every copy ready again")
            ready_s = time.time() - restarted_at
            await sending
            report, tally = await settle(work, watch, db, access)
        cut_off = sum(map(fleet.log_count, CUT_OFF)) - cut_before
        alive = [p.popen.pid for p in fleet.running()]
        skipped = sum([consumed(await scrape(p), "duplicate") for p in fleet.running()])
    finally:
        fleet.stop()
    report.write(
        "postgres_restart",
        copies=COPIES, restarted_after_commands=len(caught), per_second=PER_SECOND, restart=restart,
        seconds_for_the_restart=round(restart_s, 1), seconds_to_ready=round(ready_s, 1),
        seconds_to_recover=tally.seconds_to_answer(caught, restarted_at),
        interruptions_logged=cut_off, records_skipped_by_consumers_as_already_applied=skipped,
    )
    assert cut_off > 0, "the copies were cut off from their database (and said so) while the load ran"
    assert alive == pids, "every copy reconnected by itself: the same processes, none exited"
    report.assert_exactly_once()


def _crash_restart() -> str:
    done = subprocess.run([str(ROOT / "deploy" / "postgres.sh"), "crash-restart"], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, f"deploy/postgres.sh crash-restart failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip()
