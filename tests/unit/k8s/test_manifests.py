"""Both overlays, as kustomize renders them, validate against the Kubernetes and operators' schemas and hold what a
reviewer checks: probes, resources, a locked-down pod, a disruption budget, a network policy and an autoscaler per
service within its partitions, settings that the services really read, secrets by reference only, released images.
"""

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from deploy.k8s import names, validate, workloads
from services import SERVICES
from shared import db_roles
from shared.settings import ServiceSettings
from tests.unit.k8s.rendered import OVERLAYS, container, of_kind, pod_spec, rendered

ROOT = Path(__file__).resolve().parents[3]
NOT_SETTINGS = {"OTEL_EXPORTER_OTLP_ENDPOINT", "PYTHONDONTWRITEBYTECODE", "PGSSLROOTCERT", workloads.PASSWORD_ENV}


def settings_class(service: str) -> type[ServiceSettings]:
    cls: type[ServiceSettings] = importlib.import_module(f"services.{service}.settings").Settings
    return cls


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_document_validates_against_its_schema(overlay: str) -> None:
    kinds = validate.validate_all(list(rendered(overlay)))
    for kind in ("Deployment", "Service", "PodDisruptionBudget", "ScaledObject", "TriggerAuthentication"):
        assert kinds[kind] == len(SERVICES), kind
    assert kinds["Kafka"] == kinds["Cluster"] == kinds["Database"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_runs_its_service_with_both_probes_resources_and_a_locked_down_pod(overlay: str) -> None:
    deployments = of_kind(overlay, "Deployment")
    assert set(deployments) == {names.app(s) for s in SERVICES}
    for service in SERVICES:
        deployment = deployments[names.app(service)]
        c, pod = container(deployment), pod_spec(deployment)
        assert c["command"] == ["python", "-m", f"services.{service}"]
        assert c["ports"] == [{"name": "http", "containerPort": SERVICES[service], "protocol": "TCP"}]
        assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        for need in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][need]), (service, need)
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == _image_uid()
        assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}}
        assert pod["automountServiceAccountToken"] is False
        assert "replicas" not in deployment["spec"], "KEDA owns the number of copies"
        scrape = deployment["spec"]["template"]["metadata"]["annotations"]
        assert (scrape["prometheus.io/path"], scrape["prometheus.io/port"]) == ("/metrics", str(SERVICES[service]))


def _image_uid() -> int:
    (user,) = re.findall(r"^USER (\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    return int(user)


_UNITS = {"m": 0.001, "Mi": 2**20, "Gi": 2**30, "": 1}


def _quantity(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(m|Mi|Gi|)", value).groups()
    return float(number) * _UNITS[unit]


def test_production_asks_for_more_than_the_laptop_for_every_service() -> None:
    for service in SERVICES:
        laptop, production = (container(of_kind(o, "Deployment")[names.app(service)])["resources"]
                              for o in ("laptop", "production"))
        for need, resource in [(n, r) for n in ("requests", "limits") for r in ("cpu", "memory")]:
            assert _quantity(str(production[need][resource])) > _quantity(str(laptop[need][resource])), (service, need)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_a_disruption_budget_selecting_its_pods(overlay: str) -> None:
    budgets = of_kind(overlay, "PodDisruptionBudget")
    for service in SERVICES:
        assert budgets[names.app(service)]["spec"]["selector"]["matchLabels"] == names.labels(service)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_scales_on_the_lag_of_its_own_group_and_topics_never_past_their_partitions(overlay: str) -> None:
    scaled, topics = of_kind(overlay, "ScaledObject"), of_kind(overlay, "KafkaTopic")
    for service in SERVICES:
        spec = scaled[names.app(service)]["spec"]
        assert spec["scaleTargetRef"]["name"] == names.app(service)
        triggers = {t["metadata"]["topic"]: t["metadata"] for t in spec["triggers"]}
        subscribed = importlib.import_module(f"services.{service}.handlers").ROUTES
        assert set(triggers) == set(subscribed), service
        group = ServiceSettings.model_construct().consumer_group(service)
        assert {m["consumerGroup"] for m in triggers.values()} == {group}
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert spec["maxReplicaCount"] <= min(topics[t]["spec"]["partitions"] for t in triggers), service


def test_production_keeps_three_copies_of_requests_and_two_of_every_other_service() -> None:
    minimum = {n: d["spec"]["minReplicaCount"] for n, d in of_kind("production", "ScaledObject").items()}
    assert minimum == {names.app(s): 3 if s == "requests" else 2 for s in SERVICES}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_database_takes_every_pool_at_the_most_copies(overlay: str) -> None:
    (cluster,) = of_kind(overlay, "Cluster").values()
    scaled = of_kind(overlay, "ScaledObject")
    # Each copy's engine keeps pool_size connections and opens as many again at a peak (shared/db.py).
    needed = sum(scaled[names.app(s)]["spec"]["maxReplicaCount"] * 2
                 * settings_class(s).model_fields["database_pool_size"].default for s in SERVICES)
    assert int(cluster["spec"]["postgresql"]["parameters"]["max_connections"]) >= needed + 10


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_setting_given_is_one_the_service_reads(overlay: str) -> None:
    maps = of_kind(overlay, "ConfigMap")
    for service in SERVICES:
        deployment = of_kind(overlay, "Deployment")[names.app(service)]
        c = container(deployment)
        given = {e["name"] for e in c["env"]}
        given |= {key for ref in c["envFrom"] for key in maps[ref["configMapRef"]["name"]]["data"]}
        fields = settings_class(service).model_fields
        for name in given - NOT_SETTINGS:
            head, _, field = name.partition("_")
            assert head in ("POSTLOAN", service.upper()) and field.lower() in fields, (service, name)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_is_in_the_manifests_and_every_secret_named_is_one_an_operator_or_the_operator_makes(
        overlay: str) -> None:
    docs = rendered(overlay)
    assert not [d for d in docs if d["kind"] == "Secret"]
    known = set(of_kind(overlay, "KafkaUser")) | {names.KAFKA_CA_SECRET, names.DB_CA_SECRET, "postloan-console-session"}
    (cluster,) = of_kind(overlay, "Cluster").values()
    known |= {r["passwordSecret"]["name"] for r in cluster["spec"]["managed"]["roles"]}
    named = set()
    for deployment in of_kind(overlay, "Deployment").values():
        c = container(deployment)
        named |= {v["secret"]["secretName"] for v in pod_spec(deployment)["volumes"] if "secret" in v}
        for env in c["env"]:
            if "valueFrom" in env:
                named.add(env["valueFrom"]["secretKeyRef"]["name"])
            else:
                assert not re.search(r"://[^:/@]+:(?!\$\()[^@]+@", env["value"]), f"a password in {env['name']}"
    for auth in of_kind(overlay, "TriggerAuthentication").values():
        named |= {ref["name"] for ref in auth["spec"]["secretTargetRef"]}
    assert named <= known, named - known
    assert {names.kafka_user(s) for s in SERVICES} | {names.db_secret(s) for s in SERVICES} <= named


def test_secret_like_settings_are_never_plain_values() -> None:
    for overlay in OVERLAYS:
        for doc in of_kind(overlay, "ConfigMap").values():
            for key, value in doc["data"].items():
                assert not re.search(r"PASSWORD$|SECRET|TOKEN", key) or value.startswith("/run/secrets/"), key


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_released_tags_and_production_pulls_from_its_registry(overlay: str) -> None:
    for deployment in of_kind(overlay, "Deployment").values():
        image = container(deployment)["image"]
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", image
        assert overlay != "production" or (name.count("/") >= 1 and tag[0].isdigit()), image


_POD_KEYS = ("app.kubernetes.io/name", "strimzi.io/kind", "cnpg.io/cluster", "k8s-app", "app.kubernetes.io/component")


def _peers(rules: list[dict[str, Any]], key: str) -> set[str]:
    """Each peer of the rules as `namespace/pod labels:ports`."""
    found = set()
    for rule in rules:
        ports = ",".join(str(p["port"]) for p in rule["ports"])
        for peer in rule[key]:
            ns = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name", "")
            pods = peer.get("podSelector", {}).get("matchLabels", {})
            pod = next((pods[k] for k in _POD_KEYS if k in pods), "")
            found.add(f"{ns}/{pod}:{ports}")
    return found


def test_a_service_reaches_only_dns_kafka_its_database_and_the_identity_provider() -> None:
    policies = of_kind("laptop", "NetworkPolicy")
    deny = policies["postloan-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny and "egress" not in deny
    common = {"kube-system/kube-dns:53", f"/Kafka:{names.KAFKA_TLS_PORT}", f"/{names.DB_CLUSTER}:5432",
              f"{names.IDP_NAMESPACE}/:8080,8443"}
    for service in SERVICES:
        spec = policies[names.app(service)]["spec"]
        assert spec["podSelector"]["matchLabels"] == names.labels(service)
        calls = {f"/{s}:{SERVICES[s]}" for s in workloads.console_calls()} if service == "console" else set()
        assert _peers(spec["egress"], "to") == common | calls, service
        callers = {"/console:http"} if service in workloads.console_calls() else set()
        assert _peers(spec["ingress"], "from") == {f"{names.MONITORING_NAMESPACE}/prometheus:http",
                                                  f"{names.INGRESS_NAMESPACE}/:http"} | callers, service


def test_the_broker_accepts_only_the_services_and_the_autoscaler_over_scram_and_tls() -> None:
    for overlay in OVERLAYS:
        (kafka,) = of_kind(overlay, "Kafka").values()
        (listener,) = kafka["spec"]["kafka"]["listeners"]
        assert (listener["tls"], listener["authentication"]["type"]) == (True, "scram-sha-512")
        assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
        peers = listener["networkPolicyPeers"]
        assert [p.get("podSelector", {}).get("matchLabels") for p in peers if "podSelector" in p] == [
            {"app.kubernetes.io/component": "service", "app.kubernetes.io/part-of": names.PART_OF}]
        assert [p["namespaceSelector"]["matchLabels"] for p in peers if "namespaceSelector" in p] == [
            {"kubernetes.io/metadata.name": names.KEDA_NAMESPACE}]


def test_the_database_accepts_only_the_services_its_instances_and_its_operator() -> None:
    spec = of_kind("production", "NetworkPolicy")[names.DB_CLUSTER]["spec"]
    assert spec["podSelector"]["matchLabels"] == {"cnpg.io/cluster": names.DB_CLUSTER}
    assert _peers(spec["ingress"], "from") == {"/service:5432", f"/{names.DB_CLUSTER}:5432",
                                               f"{names.CNPG_NAMESPACE}/:8000,5432"}


@pytest.mark.parametrize(("overlay", "brokers", "controllers"), [("laptop", 1, 1), ("production", 3, 3)])
def test_kraft_node_pools_give_the_brokers_and_the_controller_quorum(overlay: str, brokers: int,
                                                                      controllers: int) -> None:
    pools = of_kind(overlay, "KafkaNodePool").values()
    assert sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"]) == brokers
    assert sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"]) == controllers
    (kafka,) = of_kind(overlay, "Kafka").values()
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == (2 if brokers == 3 else 1)


def test_the_database_url_names_the_service_role_and_checks_the_server_certificate() -> None:
    for service in SERVICES:
        env = {e["name"]: e for e in container(of_kind("production", "Deployment")[names.app(service)])["env"]}
        url = env[f"{service.upper()}_DATABASE_URL"]["value"]
        assert url.startswith(f"postgresql+asyncpg://{db_roles.role(service)}:$({workloads.PASSWORD_ENV})@")
        assert url.endswith("?ssl=verify-full")
