"""Strimzi `KafkaTopic` and `KafkaUser` documents made from the code: the topics of shared/topics.py with the
partitions and settings shared/kafka_admin.py creates them with, and one user per principal of shared/principals.py
with exactly the ACLs shared/kafka_acls.py grants (CONTRACT.md's "written by" column).

Pure: no I/O; deploy/k8s/generate.py writes them out.
"""

from collections import defaultdict
from typing import Any

from deploy.k8s import names
from shared import kafka_acls, topics
from shared.kafka_acls import Acl, Pattern, Resource
from shared.kafka_admin import DEFAULT_PARTITIONS, topic_configs
from shared.principals import PRINCIPALS, Principal

Doc = dict[str, Any]

# Kafka's ACL names as Strimzi spells them.
_RESOURCE = {Resource.TOPIC: "topic", Resource.GROUP: "group"}
_PATTERN = {Pattern.LITERAL: "literal", Pattern.PREFIXED: "prefix"}


def _metadata(name: str) -> Doc:
    return {"name": name,
            "labels": {"strimzi.io/cluster": names.KAFKA_CLUSTER, "app.kubernetes.io/part-of": names.PART_OF}}


def partitions(name: str) -> int:
    """Partitions of `name`: what kafka_admin.ensure_topics creates every topic with (the ceiling of a consumer
    group's copies, so of the autoscaler's)."""
    if name not in topics.ALL_WITH_DLQ:
        raise ValueError(f"not a topic of the contract: {name}")
    return DEFAULT_PARTITIONS


def topic(name: str) -> Doc:
    """One topic as kafka_admin.ensure_topics creates it; replicas and min.insync.replicas are the overlays' (one
    broker on a laptop, three in production)."""
    spec: Doc = {"partitions": partitions(name), "replicas": 1}
    if configs := topic_configs(name):
        spec["config"] = configs
    return {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic", "metadata": _metadata(name), "spec": spec}


def acl_entries(acls: set[Acl]) -> list[Doc]:
    """Strimzi's ACL list: one entry per resource and pattern, its operations sorted."""
    operations: dict[tuple[Resource, str, Pattern], set[str]] = defaultdict(set)
    for acl in acls:
        operations[(acl.resource, acl.name, acl.pattern)].add(acl.operation.name.capitalize())
    return [{"resource": {"type": _RESOURCE[resource], "name": name, "patternType": _PATTERN[pattern]},
             "operations": sorted(ops), "host": kafka_acls.ANY_HOST}
            for (resource, name, pattern), ops in sorted(operations.items())]


def user(principal: Principal) -> Doc:
    """A SCRAM-SHA-512 user; Strimzi generates its password into a Secret of the same name."""
    return {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaUser", "metadata": _metadata(principal.name),
            "spec": {"authentication": {"type": "scram-sha-512"},
                     "authorization": {"type": "simple", "acls": acl_entries(kafka_acls.acls_of(principal))}}}


def documents() -> dict[str, list[Doc]]:
    """The generated Kafka files: topics (each topic and its dead-letter twin) and users."""
    return {"kafka-topics.yaml": [topic(t) for t in topics.ALL_WITH_DLQ],
            "kafka-users.yaml": [user(p) for p in PRINCIPALS]}
