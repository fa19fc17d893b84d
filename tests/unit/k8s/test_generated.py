"""The manifests made from the code stay equal to it: topics and their settings, users and their ACLs, the database
roles and schemas. A new topic, grant, role or service is a visible change to the committed YAML."""

from pathlib import Path

import pytest

from deploy.k8s import crd_schemas, generate, kafka, validate
from services import SERVICES
from shared import db_roles, kafka_acls, principals, topics
from shared.kafka_acls import Acl, Operation, Pattern, Resource
from shared.kafka_admin import DEFAULT_PARTITIONS, topic_configs
from tests.unit.k8s.rendered import OVERLAYS, of_kind, rendered

_RESOURCES = {"topic": Resource.TOPIC, "group": Resource.GROUP}
_PATTERNS = {"literal": Pattern.LITERAL, "prefix": Pattern.PREFIXED}


def test_the_committed_manifests_are_what_the_generator_makes() -> None:
    assert generate.stale() == [], "run `python -m deploy.k8s.generate` and commit deploy/k8s/base/generated"


def test_the_check_sees_a_changed_or_stray_generated_file(tmp_path: Path) -> None:
    generate.write(tmp_path)
    assert generate.stale(tmp_path) == []
    (tmp_path / "kafka-topics.yaml").write_text("# edited by hand\n")
    (tmp_path / "old.yaml").write_text("{}\n")
    assert generate.stale(tmp_path) == ["kafka-topics.yaml", "old.yaml"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_and_dead_letter_topic_is_a_kafka_topic_as_the_admin_script_makes_it(overlay: str) -> None:
    found = of_kind(overlay, "KafkaTopic")
    assert set(found) == set(topics.ALL_WITH_DLQ)
    for name, doc in found.items():
        assert doc["spec"]["partitions"] == DEFAULT_PARTITIONS
        config = {k: str(v) for k, v in doc["spec"].get("config", {}).items()}
        assert topic_configs(name).items() <= config.items(), name


def test_production_topics_have_three_replicas_and_two_in_sync_the_laptop_one() -> None:
    for doc in of_kind("production", "KafkaTopic").values():
        assert (doc["spec"]["replicas"], doc["spec"]["config"]["min.insync.replicas"]) == (3, 2)
    assert {d["spec"]["replicas"] for d in of_kind("laptop", "KafkaTopic").values()} == {1}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_kafka_users_grant_exactly_the_acls_of_the_principals_table(overlay: str) -> None:
    users = of_kind(overlay, "KafkaUser")
    assert set(users) == set(principals.BY_NAME)
    granted = set()
    for name, doc in users.items():
        assert doc["spec"]["authentication"] == {"type": "scram-sha-512"}
        for entry in doc["spec"]["authorization"]["acls"]:
            resource = entry["resource"]
            granted |= {Acl(f"User:{name}", _RESOURCES[resource["type"]], resource["name"],
                            _PATTERNS[resource["patternType"]], Operation[op.upper()]) for op in entry["operations"]}
    assert granted == kafka_acls.wanted()


def test_a_new_grant_changes_the_generated_users() -> None:
    reader = principals.Principal("extra", reads=(topics.REQUESTS_EVENTS,))
    assert kafka.user(reader)["spec"]["authorization"]["acls"] == [
        {"resource": {"type": "topic", "name": topics.REQUESTS_EVENTS, "patternType": "literal"},
         "operations": ["Read"], "host": "*"}]


def test_a_topic_outside_the_contract_has_no_partition_count() -> None:
    with pytest.raises(ValueError, match="not a topic of the contract"):
        kafka.partitions("made.up")


@pytest.mark.parametrize(("overlay", "instances"), [("laptop", 1), ("production", 3)])
def test_the_database_has_one_login_role_and_schema_per_service_with_no_privilege_beyond(overlay: str,
                                                                                          instances: int) -> None:
    (cluster,) = of_kind(overlay, "Cluster").values()
    assert cluster["spec"]["instances"] == instances
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    assert set(roles) == {db_roles.role(s) for s in SERVICES}
    for role in roles.values():
        assert role["login"] and not any(role[k] for k in ("superuser", "createdb", "createrole", "replication",
                                                            "bypassrls"))
        assert set(role["passwordSecret"]) == {"name"}, "a password by reference only"
    (database,) = of_kind(overlay, "Database").values()
    assert {s["name"]: s["owner"] for s in database["spec"]["schemas"]} == {s: db_roles.role(s) for s in SERVICES}
    assert cluster["spec"]["postgresql"]["parameters"]["password_encryption"] == "scram-sha-256"


def test_every_schema_kept_names_its_source_and_release() -> None:
    sources = (crd_schemas.SCHEMAS / "SOURCES.md").read_text()
    kept = sorted(p.name for p in crd_schemas.SCHEMAS.glob("*.json"))
    assert kept, "no CRD schema kept"
    for name in kept:
        (row,) = [line for line in sources.splitlines() if f"`{name}`" in line]
        assert len(row.split("|")[5].strip()) == 40, f"{name}: the commit of its release"


def test_every_kind_the_overlays_use_has_a_schema() -> None:
    kinds = {(d["apiVersion"], d["kind"]) for o in OVERLAYS for d in rendered(o)}
    assert {k for k in kinds if not validate._is_core(k[0])} == {
        ("kafka.strimzi.io/v1", "Kafka"), ("kafka.strimzi.io/v1", "KafkaNodePool"),
        ("kafka.strimzi.io/v1", "KafkaTopic"), ("kafka.strimzi.io/v1", "KafkaUser"),
        ("postgresql.cnpg.io/v1", "Cluster"), ("postgresql.cnpg.io/v1", "Database"),
        ("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}
