"""The broker's own refusals (SASL_SSL, SCRAM-SHA-512, ACLs from shared/principals.py), tried as an attacker would
against the test run's real broker: each refusal is shown next to the same action allowed to the right principal."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from aiokafka.protocol.metadata import MetadataRequest

from harness.builders import ref
from harness.infra import TEST_KAFKA_PORT, Infra
from shared import kafka_acls, principals, topics
from shared.kafka_admin import admin_client
from shared.kafka_security import KafkaAccess

SERVICES = (principals.REQUESTS, principals.CONFIRMATION, principals.APPOINTMENTS, principals.NOTIFIER)


@contextlib.asynccontextmanager
async def producer(access: KafkaAccess, **extra: Any) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(**access.client_kwargs(), acks="all", request_timeout_ms=10000, **extra)
    try:
        await client.start()
        yield client
    finally:
        await client.stop()


async def topic_errors(access: KafkaAccess, names: tuple[str, ...]) -> dict[str, int]:
    """The broker's error code for each topic in a metadata request made as `access` (0: visible)."""
    admin = AIOKafkaAdminClient(**access.client_kwargs(), request_timeout_ms=10000)
    await admin.start()
    try:
        node = admin._client.get_random_node()
        response = await admin._client.send(node, MetadataRequest(list(names), allow_auto_topic_creation=False))
        return {topic: code for code, topic, *_ in response.topics}
    finally:
        await admin.close()


async def test_the_broker_holds_exactly_the_acls_of_the_contract_table(infra: Infra) -> None:
    async with admin_client(infra.kafka_as()) as admin:
        held = await kafka_acls.listed(admin)
    assert held == kafka_acls.wanted()
    writers = {(a.principal, a.name) for a in held if a.operation is kafka_acls.Operation.WRITE}
    assert {w for w, t in writers if t == topics.CONFIRMATION_EVENTS} == {"User:postloan-confirmation"}
    assert {w for w, t in writers if t == topics.REQUESTS_COMMANDS} == {"User:channels", "User:call-centre"}


async def test_the_channels_principal_cannot_write_confirmation_events(infra: Infra) -> None:
    async with producer(infra.kafka_as(principals.CHANNELS.name)) as channels:
        await channels.send_and_wait(topics.REQUESTS_COMMANDS, b"{}", key=ref("K").encode())  # its own topic: taken
        with pytest.raises(TopicAuthorizationFailedError):
            await channels.send_and_wait(topics.CONFIRMATION_EVENTS, b"{}", key=ref("K").encode())


async def test_the_dashboards_principal_can_write_nothing(infra: Infra) -> None:
    async with producer(infra.kafka_as(principals.DASHBOARDS.name)) as dashboards:
        for topic in topics.ALL_WITH_DLQ:
            with pytest.raises(TopicAuthorizationFailedError):
                await dashboards.send_and_wait(topic, b"{}", key=b"K")
    assert await topic_errors(infra.kafka_as(principals.DASHBOARDS.name), principals.EVENTS) \
        == dict.fromkeys(principals.EVENTS, 0)  # it does see the event topics it may read


async def read_refused(access: KafkaAccess, topic: str) -> bool:
    """True when the broker refuses `access` a read of `topic`: it does not even show it the topic, or (a topic the
    principal may write, hence describe) it answers the fetch with TOPIC_AUTHORIZATION_FAILED."""
    if (await topic_errors(access, (topic,)))[topic] == TopicAuthorizationFailedError.errno:
        return True
    consumer = AIOKafkaConsumer(**access.client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)  # an explicit position: the first request is the fetch itself
        await asyncio.wait_for(consumer.getone(), timeout=20)
    except TopicAuthorizationFailedError:
        return True
    finally:
        await consumer.stop()
    return False


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
async def test_no_service_can_read_another_services_dead_letters(infra: Infra, service: principals.Principal) -> None:
    for dlq in principals.DEAD_LETTERS:  # its own dead letters included: they are the ops principal's to read
        assert await read_refused(infra.kafka_as(service.name), dlq), dlq
    # The service writes the dead letters of what it consumes, and the ops principal reads them.
    dlq = topics.dlq(service.reads[0])
    async with producer(infra.kafka_as(service.name)) as own:
        sent = await own.send_and_wait(dlq, b"letter", key=ref("DL").encode())
    assert await topic_errors(infra.kafka_as(principals.OPS.name), (dlq,)) == {dlq: 0}
    consumer = AIOKafkaConsumer(**infra.kafka_as(principals.OPS.name).client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(dlq, sent.partition)])
        consumer.seek(TopicPartition(dlq, sent.partition), sent.offset)
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
        assert (record.offset, record.value) == (sent.offset, b"letter")
    finally:
        await consumer.stop()


async def test_a_client_without_credentials_or_with_a_wrong_password_cannot_connect(infra: Infra) -> None:
    own = infra.kafka_as(principals.CORE_BANKING.name)
    async with producer(own) as allowed:  # the same principal with its real password: connected
        await allowed.send_and_wait(topics.LOANS_SNAPSHOTS, b"{}", key=ref("K").encode())
    wrong = own.as_user(own.username, "not-the-password")
    unknown = own.as_user("mallory", own.password.get_secret_value())
    for access in (wrong, unknown):
        with pytest.raises(KafkaConnectionError):
            async with producer(access):
                pass
    tls_only = {"bootstrap_servers": own.bootstrap, "security_protocol": "SSL", "ssl_context": own.ssl_context()}
    with pytest.raises(KafkaConnectionError):
        await _connect(tls_only)


async def test_a_plaintext_client_cannot_talk_to_the_sasl_ssl_port(infra: Infra) -> None:
    with pytest.raises(KafkaConnectionError):
        await _connect({"bootstrap_servers": infra.kafka_bootstrap})


async def test_the_controller_listener_takes_no_client_credential(infra: Infra) -> None:
    admin = infra.kafka_as()  # even the admin's SCRAM password, sent as SASL PLAIN, opens nothing there
    with pytest.raises(KafkaConnectionError):
        await _connect({"bootstrap_servers": f"127.0.0.1:{TEST_KAFKA_PORT + 1}", "security_protocol": "SASL_PLAINTEXT",
                        "sasl_mechanism": "PLAIN", "sasl_plain_username": admin.username,
                        "sasl_plain_password": admin.password.get_secret_value()})


async def _connect(kwargs: dict[str, Any]) -> None:
    client = AIOKafkaProducer(**kwargs, request_timeout_ms=10000)
    try:
        await client.start()
    finally:
        await client.stop()
