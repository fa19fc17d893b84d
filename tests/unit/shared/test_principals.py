"""The principals table (shared/principals.py) is CONTRACT.md's "written by" and matches what each service does."""

from pathlib import Path

import pytest
from pydantic import SecretStr

from services import SERVICES
from shared import kafka_acls, principals, topics
from shared.kafka_security import KafkaAccess
from shared.settings import ServiceSettings

CONTRACT = Path(__file__).resolve().parents[3] / "docs" / "CONTRACT.md"
# CONTRACT.md's "written by" column, in the principals' names.
WRITTEN_BY = {
    topics.LOANS_SNAPSHOTS: {"core-banking"},
    topics.REQUESTS_COMMANDS: {"channels", "call-centre"},
    topics.REQUESTS_EVENTS: {"postloan-requests"},
    topics.CONFIRMATION_COMMANDS: {"call-centre"},
    topics.CONFIRMATION_EVENTS: {"postloan-confirmation"},
    topics.APPOINTMENTS_COMMANDS: {"channels", "operators"},
    topics.APPOINTMENTS_EVENTS: {"postloan-appointments"},
    topics.NOTIFICATIONS_EVENTS: {"postloan-notifier"},
}


def test_every_contract_topic_is_written_by_its_contract_writers_only() -> None:
    assert {t: {p.name for p in principals.writers(t)} for t in topics.ALL} == WRITTEN_BY
    for topic in topics.ALL:
        assert f"| `{topic}` |" in CONTRACT.read_text()


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_principal_reads_what_the_service_consumes_and_writes_its_events_and_their_dead_letters(
    name: str
) -> None:
    module = __import__(f"services.{name}.app", fromlist=["build_runtime"])
    settings = __import__(f"services.{name}.settings", fromlist=["Settings"]).Settings
    spec = module.build_runtime(settings(kafka_security_protocol="PLAINTEXT")).spec
    me = principals.service(name)
    counted = principals.DEAD_LETTERS if name == "console" else ()  # the console counts dead letters (offsets only)
    assert set(me.reads) == {*spec.consumers, *counted}
    assert set(me.writes) == {*filter(None, [spec.produces]), *map(topics.dlq, spec.consumers)}
    assert me.source == f"postloan/{name}" and me.group == f"postloan.{name}"


def test_only_the_console_describes_and_describing_grants_no_read() -> None:
    describers = {p.name for p in principals.PRINCIPALS if p.describes or p.describes_groups}
    assert describers == {"postloan-console"}
    described = {a for a in kafka_acls.wanted() if a.operation is kafka_acls.Operation.DESCRIBE}
    assert {a.name for a in described if a.resource is kafka_acls.Resource.TOPIC} == set(topics.ALL)
    assert all(a.principal == "User:postloan-console" for a in described)


def test_dashboards_and_ops_write_nothing_and_read_only_events_and_dead_letters() -> None:
    assert principals.DASHBOARDS.writes == principals.OPS.writes == ()
    assert all(t.endswith(".events") for t in principals.DASHBOARDS.reads)
    assert all(t.endswith(".dlq") for t in principals.OPS.reads)
    readers = (principals.OPS, principals.CONSOLE)  # the console reads dead-letter topics' offsets, to count them
    assert not any(t.endswith(".dlq") for p in principals.PRINCIPALS if p not in readers for t in p.reads)


@pytest.mark.parametrize(("topic", "source", "accepted"), [
    (topics.CONFIRMATION_EVENTS, "postloan/confirmation", True),
    (topics.CONFIRMATION_EVENTS, "postloan/confirmation/relay", True),
    (topics.CONFIRMATION_EVENTS, "postloan/confirmationx", False),
    (topics.CONFIRMATION_EVENTS, "call-centre/desk", False),
    (topics.CONFIRMATION_EVENTS, "postloan/requests", False),
    (topics.REQUESTS_COMMANDS, "channels/app", True),
    (topics.REQUESTS_COMMANDS, "call-centre/hotline", True),
    (topics.REQUESTS_COMMANDS, "operators/x", False),
    (topics.LOANS_SNAPSHOTS, "core-banking", True),
    (topics.LOANS_SNAPSHOTS, "", False),
])
def test_a_topic_accepts_only_its_writers_sources(topic: str, source: str, accepted: bool) -> None:
    assert principals.accepts(topic, source) is accepted


def test_the_acls_grant_a_group_prefix_per_reader_and_nothing_to_the_super_users() -> None:
    acls = kafka_acls.wanted()
    groups = {(a.principal, a.name, a.operation) for a in acls if a.resource is kafka_acls.Resource.GROUP}
    joins = {(f"User:{p.name}", p.group, kafka_acls.Operation.READ) for p in principals.PRINCIPALS if p.group}
    # Only the console may look at other groups' offsets (their consumer lag), and only look: DESCRIBE, not READ.
    looks = {("User:postloan-console", "postloan.", kafka_acls.Operation.DESCRIBE)}
    assert groups == joins | looks
    assert all(a.pattern is kafka_acls.Pattern.PREFIXED for a in acls if a.resource is kafka_acls.Resource.GROUP)
    assert not {a for a in acls if a.principal in ("User:admin", "User:broker")}


def test_a_service_connects_as_its_own_principal_with_the_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    settings = ServiceSettings(kafka_sasl_password_file=str(secret), kafka_ca_file=str(tmp_path / "ca.pem"))
    access = settings.kafka_access("notifier")
    assert (access.protocol, access.username, access.password.get_secret_value()) == \
        ("SASL_SSL", "postloan-notifier", "s3cret")
    assert "s3cret" not in repr(access) and "s3cret" not in str(settings.describe())


def test_sasl_ssl_without_a_password_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="needs a user name and a password"):
        KafkaAccess("b:9092", "SASL_SSL", "postloan-requests", SecretStr(""))
