"""The three-broker cluster as deploy/kafka.sh sets it up: every topic has three copies of which two must take a
write, and every broker enforces the ACLs (not a fault test: nothing is killed)."""

import asyncio
import re

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAuthorizationFailedError
from aiokafka.protocol.metadata import MetadataRequest
from typer.testing import CliRunner

from cli.main import app
from harness.cluster import CLUSTER_STATE, NODES, Cluster, partition_states
from harness.infra import Infra
from shared import kafka_acls, topics
from shared.kafka_admin import admin_client
from shared.principals import DASHBOARDS

pytestmark = pytest.mark.cluster
runner = CliRunner()


async def test_every_topic_has_three_copies_and_needs_two_for_a_write(kafka_cluster: tuple[Infra, Cluster]) -> None:
    infra, _ = kafka_cluster
    async with admin_client(infra.kafka_as()) as admin:
        states = await partition_states(admin, topics.ALL_WITH_DLQ)
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t, configs=None)
                                                  for t in topics.ALL_WITH_DLQ])
        assert len((await admin.describe_cluster())["brokers"]) == NODES
        held = await kafka_acls.listed(admin)
    assert {t for t, _ in states} == set(topics.ALL_WITH_DLQ)
    assert {len(s.replicas) for s in states.values()} == {3}
    assert all(len(s.isr) == 3 for s in states.values()), "a fresh cluster has every copy in sync"
    min_isr = {resource[3]: entry[1] for r in responses for resource in r.resources for entry in resource[4]
               if entry[0] == "min.insync.replicas"}
    assert min_isr == dict.fromkeys(topics.ALL_WITH_DLQ, "2")
    assert held == kafka_acls.wanted()  # the same table as on one broker


async def test_a_principal_without_a_grant_is_refused_by_every_broker(kafka_cluster: tuple[Infra, Cluster]) -> None:
    """`dashboards` may read the event topics and nothing else. Asked directly, each broker's authorizer hides
    requests.commands from it (TOPIC_AUTHORIZATION_FAILED) and shows requests.events on the same connection (the
    refusal is the ACL's, not a broken connection); and its write to requests.commands is refused."""
    infra, cluster = kafka_cluster
    answers = {}
    async with admin_client(infra.kafka_as(DASHBOARDS.name)) as admin:
        for node in cluster.nodes:  # whichever leads what: a fault test may have moved the leaders
            response = await admin._client.send(node.id, MetadataRequest(
                [topics.REQUESTS_COMMANDS, topics.REQUESTS_EVENTS], allow_auto_topic_creation=False))
            answers[node.id] = {topic: code for code, topic, *_ in response.topics}
    expected = {topics.REQUESTS_COMMANDS: TopicAuthorizationFailedError.errno, topics.REQUESTS_EVENTS: 0}
    assert answers == dict.fromkeys((n.id for n in cluster.nodes), expected)
    producer = AIOKafkaProducer(**infra.kafka_as(DASHBOARDS.name).client_kwargs(), acks="all",
                                request_timeout_ms=10000)
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(topics.REQUESTS_COMMANDS, b"{}", key=b"x")
    finally:
        await producer.stop()


async def test_the_command_line_takes_the_three_brokers_list(kafka_cluster: tuple[Infra, Cluster]) -> None:
    """`postloan` given every broker's address (what `make up CLUSTER=3` exports) finds the topics made and publishes
    the demo loans with acks=all through the cluster."""
    infra, _ = kafka_cluster
    env = {"POSTLOAN_STATE_DIR": str(CLUSTER_STATE), "COLUMNS": "250"}
    made = await asyncio.to_thread(runner.invoke, app, ["topics", "--bootstrap", infra.kafka_bootstrap], env=env)
    assert made.exit_code == 0, made.output
    assert f"0 created, {len(topics.ALL_WITH_DLQ)} already there" in made.output
    loaded = await asyncio.to_thread(runner.invoke, app, ["load-demo", "--bootstrap", infra.kafka_bootstrap], env=env)
    assert loaded.exit_code == 0, loaded.output
    assert re.search(r"published [1-9]\d* loan snapshots", loaded.output), loaded.output
