"""Fault: `kill -9` of one of three brokers while 5,000 commands flow through the requests service, then the broker
started again. Every command is answered exactly once on requests.events, the database holds one request and one
inbox row per command, and every partition is back to three in-sync copies. The figures go to
bench/results/issue16/broker-kill.json (README "A three-broker cluster")."""

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from bench.support import service_process
from harness.cluster import Cluster, Node, partition_states, under_replicated
from harness.infra import ROOT, Infra
from shared.db import migrate
from shared.kafka_admin import admin_client
from tests.support.cluster_load import (
    GROUP,
    AnswerCounter,
    Commands,
    drained,
    seeded_loans,
    send_paced,
    stored_effects,
    unless_unreachable,
)
from tests.support.wait import eventually

pytestmark = [pytest.mark.faults, pytest.mark.cluster]

COMMANDS = 5000
SEND_RATE = 500  # commands/s: about what one copy answers on the cluster here, so sending outlasts the kill
PORT = int(os.environ.get("POSTLOAN_TEST_PORT_BASE", "18000")) + 31  # beside the e2e run's services (base+1..5)
RESULTS = ROOT / "bench" / "results" / "issue16" / "broker-kill.json"


async def coordinator(infra: Infra, cluster: Cluster) -> Node:
    """The broker coordinating the requests service's group (it also leads about a third of the partitions): the
    one whose loss the service feels most."""
    async with admin_client(infra.kafka_as()) as admin:
        return cluster.node(await admin.find_coordinator(GROUP))


async def out_of_sync(infra: Infra, node: Node) -> None:
    """Returns once the cluster has noticed the node gone: it is out of some partition's in-sync replicas."""
    async def noticed() -> bool:
        async with admin_client(infra.kafka_as()) as admin:
            return any(node.id not in s.isr for s in (await partition_states(admin)).values())

    await eventually(unless_unreachable(noticed), timeout=60, what=f"node {node.id} out of sync")


async def all_in_sync(infra: Infra) -> None:
    async def in_sync() -> bool:
        return await under_replicated(infra.kafka_as()) == 0

    await eventually(unless_unreachable(in_sync), timeout=120, what="every partition back to three in-sync replicas")


def record(figures: dict[str, object], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


async def test_a_broker_killed_under_load_loses_nothing_and_repeats_nothing(
        kafka_cluster: tuple[Infra, Cluster]) -> None:
    infra, cluster = kafka_cluster
    await migrate(ROOT / "services" / "requests" / "migrations", infra.service_database_url("requests"), "requests")
    started = time.monotonic()
    async with service_process("requests", infra, PORT):
        commands = Commands.for_loans(await seeded_loans(infra, COMMANDS))
        async with AnswerCounter(infra, set(commands.command_ids)) as answers:
            sending = asyncio.create_task(send_paced(infra, commands.records, SEND_RATE))
            await answers.until_answered(COMMANDS // 3, timeout=60)
            victim = await coordinator(infra, cluster)
            answered_before = answers.answered
            killed_at = time.monotonic()
            cluster.kill(victim)
            await out_of_sync(infra, victim)
            noticed_s = time.monotonic() - killed_at
            await asyncio.to_thread(cluster.start)  # the one node that is down
            restarted_s = time.monotonic() - killed_at
            await all_in_sync(infra)
            in_sync_s = time.monotonic() - killed_at
            send_s = await sending
            await answers.until_answered(COMMANDS, timeout=120)
            await drained(infra, timeout=60)  # nothing can still be answered after this
            await answers.until_read_to_end(timeout=30)
        effects = await stored_effects(infra, commands)
    figures = {
        "scenario": f"kill -9 of one of {len(cluster.nodes)} brokers (the requests group's coordinator) after a third "
                    f"of {COMMANDS} debit-day changes were answered, then restarted",
        "machine": f"{os.cpu_count()} cores; brokers, database, service and driver on the same machine",
        "kafka": infra.kafka_version, "commands": COMMANDS, "answered": answers.answered,
        "answered_before_kill": answered_before, "duplicates": answers.duplicates,
        "approved": len(answers.approvals), "answer_kinds": dict(answers.kinds),
        "request_rows": sum(effects.requests.values()), "inbox_rows": effects.inbox, "parked": effects.parked,
        "killed_node": victim.id, "seconds_kill_to_out_of_sync": round(noticed_s, 1),
        "seconds_kill_to_restarted": round(restarted_s, 1), "seconds_kill_to_isr_3": round(in_sync_s, 1),
        "seconds_kill_to_last_answer": round(answers.last_answer_at - killed_at, 1),
        "seconds_sending": round(send_s, 1), "seconds_in_all": round(time.monotonic() - started, 1),
    }
    record(figures)
    assert answers.answered == COMMANDS, "every command answered"
    assert set(answers.answers.values()) == {1}, "no command answered twice"
    assert answers.kinds["RequestSubmitted"] == COMMANDS and not answers.kinds["RequestRejected"]
    assert len(answers.approvals) == COMMANDS and set(answers.approvals.values()) == {1}, "each approved once"
    assert set(answers.event_ids.values()) == {1}, "no event published twice"
    assert effects.requests.keys() == set(commands.command_ids) and set(effects.requests.values()) == {1}
    assert effects.inbox == COMMANDS and effects.parked == 0
    assert await under_replicated(infra.kafka_as()) == 0
