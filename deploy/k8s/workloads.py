"""The documents of each service, made from services/__init__.py (names, ports), the services' settings classes (the
environment names they read), shared/lag.py (each consumer group and its topics) and the Kafka topics' partitions:
ConfigMap, Deployment, Service, PodDisruptionBudget, NetworkPolicy, KEDA TriggerAuthentication and ScaledObject.

Secrets appear by name only: Strimzi's KafkaUser Secret (the principal's password), its cluster CA, CloudNativePG's
CA and the role's basic-auth Secret, and the console's session key. Pure: no I/O; sizes are the overlays'.
"""

from typing import Any

from deploy.k8s import kafka, names
from services import SERVICES
from services.console.settings import Settings as ConsoleSettings
from shared import db_roles
from shared.lag import every_service_group
from shared.principals import service as principal
from shared.settings import ServiceSettings

Doc = dict[str, Any]

SECRETS = "/run/secrets"  # where the Secret volumes are mounted, read-only
PASSWORD_ENV = "DATABASE_PASSWORD"  # only to build the URL: Kubernetes expands $(DATABASE_PASSWORD) in the next value
COMMON_CONFIG = "postloan-common"
LAG_THRESHOLD = ServiceSettings.model_fields["consumer_max_records"].default  # one batch behind per copy: add a copy


def prefix(service: str) -> str:
    """The service's settings prefix (env_prefix of its Settings class)."""
    return f"{service.upper()}_"


def consumed(service: str) -> tuple[str, str, tuple[str, ...]]:
    """(principal, consumer group, topics) the service consumes as (shared.lag: CONTRACT's table)."""
    user = principal(service)
    assert user.group is not None, f"{service} joins no consumer group"
    return user.name, user.group, every_service_group()[user.group]


def max_copies(service: str) -> int:
    """More copies than the smallest partition count of its topics would sit idle."""
    return min(kafka.partitions(t) for t in consumed(service)[2])


def console_calls() -> tuple[str, ...]:
    """The owning services whose HTTP APIs the console calls (its <service>_url settings)."""
    return tuple(s for s in SERVICES if f"{s}_url" in ConsoleSettings.model_fields)


def config_map(service: str) -> Doc:
    p, port = prefix(service), SERVICES[service]
    data = {f"{p}KAFKA_BOOTSTRAP": names.KAFKA_BOOTSTRAP, f"{p}KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            f"{p}KAFKA_SASL_USERNAME": consumed(service)[0],
            f"{p}KAFKA_SASL_PASSWORD_FILE": f"{SECRETS}/kafka/password",
            f"{p}KAFKA_CA_FILE": f"{SECRETS}/kafka-ca/ca.crt", f"{p}HTTP_HOST": "0.0.0.0", f"{p}HTTP_PORT": str(port)}
    if service == "console":
        data |= {f"{p}{s.upper()}_URL": f"http://{names.app(s)}:{SERVICES[s]}" for s in console_calls()}
        data |= {f"{p}SESSION_KEY_FILE": f"{SECRETS}/console/session-key",
                 f"{p}PUBLIC_URL": f"http://localhost:{port}", f"{p}OIDC_INTERNAL_URL": names.IDP_REALM}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{names.app(service)}-config", "labels": names.labels(service)}, "data": data}


def common_config() -> Doc:
    """Settings every service shares (POSTLOAN_*, the fallback of each prefix) and the environment a read-only root
    file system needs. The issuer is the one browsers see (a laptop reaches Keycloak by a port-forward, as
    docker-compose.yml publishes it); keys are fetched inside the cluster."""
    data = {"POSTLOAN_AUTH_ISSUER": "http://localhost:8180/realms/postloan",
            "POSTLOAN_AUTH_JWKS_URL": f"{names.IDP_REALM}/protocol/openid-connect/certs",
            "POSTLOAN_LOG_JSON": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",  # empty: tracing off (shared/tracing.py); production sends traces
            "PYTHONDONTWRITEBYTECODE": "1"}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": COMMON_CONFIG, "labels": {"app.kubernetes.io/part-of": names.PART_OF}}, "data": data}


def _secret_volume(name: str, secret: str, key: str, path: str) -> Doc:
    return {"name": name, "secret": {"secretName": secret, "items": [{"key": key, "path": path}],
                                     "defaultMode": 0o440}}


def _volumes(service: str) -> list[Doc]:
    volumes = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
               _secret_volume("kafka", names.kafka_user(service), "password", "password"),
               _secret_volume("kafka-ca", names.KAFKA_CA_SECRET, "ca.crt", "ca.crt"),
               _secret_volume("db-ca", names.DB_CA_SECRET, "ca.crt", "ca.crt")]
    if service == "console":  # every copy signs and checks the sign-in's state cookie with the same key
        volumes.append(_secret_volume("console", names.CONSOLE_SESSION_SECRET, "session-key", "session-key"))
    return volumes


def _env(service: str) -> list[Doc]:
    url = (f"postgresql+asyncpg://{db_roles.role(service)}:$({PASSWORD_ENV})@{names.DB_HOST}:5432/{names.DB_NAME}"
           "?ssl=verify-full")
    password = {"secretKeyRef": {"name": names.db_secret(service), "key": "password"}}
    return [{"name": PASSWORD_ENV, "valueFrom": password},
            {"name": f"{prefix(service)}DATABASE_URL", "value": url},
            {"name": "PGSSLROOTCERT", "value": f"{SECRETS}/db-ca/ca.crt"}]  # asyncpg checks the server against it


def _probe(path: str, period: int, failures: int) -> Doc:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 5,
            "failureThreshold": failures}


def container(service: str) -> Doc:
    mounts = [{"name": "tmp", "mountPath": "/tmp"}] + [
        {"name": v["name"], "mountPath": f"{SECRETS}/{v['name']}", "readOnly": True} for v in _volumes(service)[1:]]
    return {
        "name": service, "image": f"{names.IMAGE}:0.1.0", "command": ["python", "-m", f"services.{service}"],
        "ports": [{"name": "http", "containerPort": SERVICES[service], "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": COMMON_CONFIG}},
                    {"configMapRef": {"name": f"{names.app(service)}-config"}}],
        "env": _env(service),
        # Startup covers the migrations run at start; liveness is lenient (/health also answers 503 while the broker
        # or the database is away, which a restart does not cure); readiness takes the copy out of its Service.
        "startupProbe": _probe("/health", 5, 60),
        "livenessProbe": _probe("/health", 20, 6),
        "readinessProbe": _probe("/ready", 10, 3),
        "resources": {"requests": {"cpu": "100m", "memory": "192Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": mounts,
    }


def deployment(service: str) -> Doc:
    labels = names.labels(service)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": names.app(service), "labels": labels},
        # No `replicas`: KEDA's autoscaler owns the count (an apply would otherwise reset it).
        "spec": {
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            # The annotations a Prometheus discovering pods (kubernetes_sd) scrapes by; its NetworkPolicy lets it in.
            "template": {"metadata": {"labels": labels, "annotations": {
                "prometheus.io/scrape": "true", "prometheus.io/port": str(SERVICES[service]),
                "prometheus.io/path": "/metrics"}}, "spec": {
                "automountServiceAccountToken": False,  # the services never call the Kubernetes API
                "securityContext": {"runAsNonRoot": True, "runAsUser": names.UID, "runAsGroup": names.UID,
                                    "fsGroup": names.UID, "seccompProfile": {"type": "RuntimeDefault"}},
                "terminationGracePeriodSeconds": 30,
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                               "whenUnsatisfiable": "ScheduleAnyway",
                                               "labelSelector": {"matchLabels": labels}}],
                "containers": [container(service)],
                "volumes": _volumes(service)}}}}


def service_doc(service: str) -> Doc:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": names.app(service),
                                                                 "labels": names.labels(service)},
            "spec": {"selector": names.labels(service),
                     "ports": [{"name": "http", "port": SERVICES[service], "targetPort": "http"}]}}


def disruption_budget(service: str) -> Doc:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": names.app(service), "labels": names.labels(service)},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": names.labels(service)}}}


def _namespace(name: str, pods: dict[str, str] | None = None) -> Doc:
    peer: Doc = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}
    if pods:
        peer["podSelector"] = {"matchLabels": pods}
    return peer


def _to(peers: list[Doc], ports: list[int], protocol: str = "TCP") -> Doc:
    return {"to": peers, "ports": [{"port": p, "protocol": protocol} for p in ports]}


def network_policy(service: str) -> Doc:
    """In: Prometheus and the ingress controller on the HTTP port, the console too for the services it calls.
    Out: DNS, the Kafka brokers, the database, the identity provider (and the console: the services it calls)."""
    http = [{"port": "http", "protocol": "TCP"}]
    sources = [_namespace(names.MONITORING_NAMESPACE, {"app.kubernetes.io/name": "prometheus"}),
               _namespace(names.INGRESS_NAMESPACE)]
    if service in console_calls():
        sources.append({"podSelector": {"matchLabels": names.labels("console")}})
    dns = _namespace("kube-system", {"k8s-app": "kube-dns"})
    egress = [_to([dns], [53], "UDP"), _to([dns], [53]),
              _to([{"podSelector": {"matchLabels": {"strimzi.io/cluster": names.KAFKA_CLUSTER,
                                                    "strimzi.io/kind": "Kafka"}}}], [names.KAFKA_TLS_PORT]),
              _to([{"podSelector": {"matchLabels": {"cnpg.io/cluster": names.DB_CLUSTER}}}], [5432]),
              _to([_namespace(names.IDP_NAMESPACE)], list(names.IDP_PORTS))]
    if service == "console":
        egress += [_to([{"podSelector": {"matchLabels": names.labels(s)}}], [SERVICES[s]]) for s in console_calls()]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": names.app(service), "labels": names.labels(service)},
            "spec": {"podSelector": {"matchLabels": names.labels(service)}, "policyTypes": ["Ingress", "Egress"],
                     "ingress": [{"from": sources, "ports": http}], "egress": egress}}


def default_deny() -> Doc:
    """Every service pod: nothing in or out but what its own policy allows."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "postloan-default-deny", "labels": {"app.kubernetes.io/part-of": names.PART_OF}},
            "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": names.PART_OF,
                                                    "app.kubernetes.io/component": "service"}},
                     "policyTypes": ["Ingress", "Egress"]}}


def trigger_authentication(service: str) -> Doc:
    """KEDA reads the group's lag as the service's own principal (its ACLs allow describing its group and topics)."""
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
            "metadata": {"name": f"{names.app(service)}-kafka", "labels": names.labels(service)},
            "spec": {"secretTargetRef": [
                        {"parameter": "password", "name": names.kafka_user(service), "key": "password"},
                        {"parameter": "ca", "name": names.KAFKA_CA_SECRET, "key": "ca.crt"}],
                     "configMapTargetRef": [{"parameter": "username", "name": f"{names.app(service)}-config",
                                             "key": f"{prefix(service)}KAFKA_SASL_USERNAME"}]}}


# Each change of copies rebalances the group (every copy stops consuming for a moment): add at most two copies a
# minute, remove one every two minutes after five calm ones, so a burst does not make the group flap.
_SCALING = {"scaleUp": {"stabilizationWindowSeconds": 0,
                        "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]},
            "scaleDown": {"stabilizationWindowSeconds": 300,
                          "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]}}


def scaled_object(service: str) -> Doc:
    """One lag trigger per consumed topic (the autoscaler follows the most behind); never more copies than
    partitions."""
    _user, group, topic_names = consumed(service)
    auth = {"name": f"{names.app(service)}-kafka"}
    triggers = [{"type": "kafka", "name": topic.replace(".", "-"), "authenticationRef": auth,
                 "metadata": {"bootstrapServers": names.KAFKA_BOOTSTRAP, "consumerGroup": group, "topic": topic,
                              "lagThreshold": str(LAG_THRESHOLD), "offsetResetPolicy": "earliest",
                              "sasl": "scram_sha512", "tls": "enable"}} for topic in topic_names]
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": names.app(service), "labels": names.labels(service)},
            "spec": {"scaleTargetRef": {"name": names.app(service)}, "minReplicaCount": 1,
                     "maxReplicaCount": max_copies(service), "pollingInterval": 15, "cooldownPeriod": 300,
                     "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _SCALING}}, "triggers": triggers}}


def documents() -> dict[str, list[Doc]]:
    parts = (config_map, deployment, service_doc, disruption_budget, network_policy, trigger_authentication,
             scaled_object)
    return {f"service-{s}.yaml": [part(s) for part in parts] for s in SERVICES} | {
        "network-default-deny.yaml": [default_deny()], "common.yaml": [common_config()]}
