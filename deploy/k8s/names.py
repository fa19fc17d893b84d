"""Names the manifests share: the Strimzi cluster, the CloudNativePG cluster, the image, the labels.

Changing one here changes every generated document at once; the hand-written base files (kafka.yaml, common.yaml)
and the overlays spell the same names, and the unit tests check they agree.
"""

from typing import Final

from shared import db_roles, principals

PART_OF: Final = "postloan"
KAFKA_CLUSTER: Final = "postloan"  # Strimzi `Kafka` name: services, secrets and pods are named after it
KAFKA_TLS_PORT: Final = 9093
KAFKA_BOOTSTRAP: Final = f"{KAFKA_CLUSTER}-kafka-bootstrap:{KAFKA_TLS_PORT}"
KAFKA_CA_SECRET: Final = f"{KAFKA_CLUSTER}-cluster-ca-cert"  # Strimzi's cluster CA certificate (key ca.crt)
DB_CLUSTER: Final = "postloan-db"  # CloudNativePG `Cluster` name
DB_HOST: Final = f"{DB_CLUSTER}-rw"  # the primary's service
DB_CA_SECRET: Final = f"{DB_CLUSTER}-ca"  # CloudNativePG's CA (key ca.crt): the server certificate is checked
DB_NAME: Final = db_roles.ADMIN_ROLE  # one database, a schema per service (shared/db_roles.py)
DB_SERVICES_GROUP: Final = f"{db_roles.ADMIN_ROLE}_services"  # NOLOGIN role holding CONNECT for the service roles
IMAGE: Final = "postloan"  # the Dockerfile's image; each overlay sets its registry and tag
UID: Final = 10001  # the Dockerfile's unprivileged user


def app(service: str) -> str:
    """Deployment, Service, PDB, NetworkPolicy and ScaledObject name of `service`."""
    return f"postloan-{service}"


def kafka_user(service: str) -> str:
    """The service's KafkaUser, hence its principal and the Secret Strimzi writes its password into."""
    return principals.service(service).name


def db_secret(service: str) -> str:
    """The basic-auth Secret holding the service role's password (CNPG managed.roles passwordSecret)."""
    return f"{DB_CLUSTER}-{service}"


def labels(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/component": "service"}


# Who may reach the services from outside their namespace (NetworkPolicies): the cluster's Prometheus, its ingress
# controller (staff browsers, channels' and call-centre tools) and the identity provider the services fetch keys from.
MONITORING_NAMESPACE: Final = "monitoring"
INGRESS_NAMESPACE: Final = "ingress-nginx"
IDP_NAMESPACE: Final = "keycloak"
IDP_PORTS: Final = (8080, 8443)
# The realm inside the cluster (the Keycloak operator names its service <name>-service): where the services fetch its
# keys and the console exchanges codes. Tokens name the issuer browsers see, the overlays' POSTLOAN_AUTH_ISSUER.
IDP_REALM: Final = f"http://keycloak-service.{IDP_NAMESPACE}.svc:8080/realms/postloan"
CNPG_NAMESPACE: Final = "cnpg-system"  # CloudNativePG's operator (its manifest's namespace)
KEDA_NAMESPACE: Final = "keda"  # its operator reads the consumer groups' offsets from the brokers
CONSOLE_SESSION_SECRET: Final = "postloan-console-session"  # key `session-key`: every console copy signs with it
