"""The CloudNativePG `Cluster` and `Database` of the platform, shaped as shared/db_roles.py provisions a server: one
database, one login role per service (no superuser, no CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS) owning its
own schema, nothing for PUBLIC. The roles' passwords are Secrets referenced by name (never in the manifests).

Pure: no I/O. Instances, resources and max_connections are the overlays'.
"""

from typing import Any

from deploy.k8s import names
from services import SERVICES
from shared import db_roles

Doc = dict[str, Any]


def _role(service: str) -> Doc:
    # CNPG keeps the role equal to this (its password from the Secret); the attributes are db_roles.ensure_roles'.
    return {"name": db_roles.role(service), "ensure": "present", "login": True, "superuser": False,
            "createdb": False, "createrole": False, "replication": False, "bypassrls": False, "inherit": True,
            "inRoles": [names.DB_SERVICES_GROUP], "passwordSecret": {"name": names.db_secret(service)}}


# db_roles.ensure_roles and provision_database's grants, run once when the cluster is made: the maintenance databases
# and the application database closed to PUBLIC, CONNECT through a group role the managed roles are put in (they do
# not exist yet when initdb runs). Fixed statements over names of ours: nothing from outside is interpolated.
_POST_INIT_SQL = ["REVOKE CONNECT, TEMP ON DATABASE postgres FROM PUBLIC",
                  "REVOKE CONNECT, TEMP ON DATABASE template1 FROM PUBLIC",
                  f"CREATE ROLE {names.DB_SERVICES_GROUP} NOLOGIN"]
_POST_INIT_APPLICATION_SQL = [f"REVOKE ALL ON DATABASE {names.DB_NAME} FROM PUBLIC",
                              "REVOKE ALL ON SCHEMA public FROM PUBLIC",
                              f"GRANT CONNECT ON DATABASE {names.DB_NAME} TO {names.DB_SERVICES_GROUP}"]


def cluster() -> Doc:
    return {
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": names.DB_CLUSTER, "labels": {"app.kubernetes.io/part-of": names.PART_OF}},
        "spec": {
            "instances": 1,
            "imageName": "ghcr.io/cloudnative-pg/postgresql:16",  # the major version docker-compose.yml runs
            "enableSuperuserAccess": False,  # nothing of ours signs in as postgres: the operator administers
            "bootstrap": {"initdb": {"database": names.DB_NAME, "owner": db_roles.ADMIN_ROLE,
                                     "postInitSQL": _POST_INIT_SQL,
                                     "postInitApplicationSQL": _POST_INIT_APPLICATION_SQL}},
            "postgresql": {"parameters": {"password_encryption": "scram-sha-256", "max_connections": "300"}},
            "managed": {"roles": [_role(s) for s in SERVICES]},
            "storage": {"size": "5Gi"},
        },
    }


def database() -> Doc:
    """The database with one schema per service owned by its role (CNPG creates what is missing)."""
    return {
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Database",
        "metadata": {"name": names.DB_NAME, "labels": {"app.kubernetes.io/part-of": names.PART_OF}},
        "spec": {"cluster": {"name": names.DB_CLUSTER}, "name": names.DB_NAME, "owner": db_roles.ADMIN_ROLE,
                 "ensure": "present", "databaseReclaimPolicy": "retain",
                 "schemas": [{"name": s, "owner": db_roles.role(s), "ensure": "present"} for s in SERVICES]},
    }


def network_policy() -> Doc:
    """In to the instances: the services (5432), the other instances (replication) and CloudNativePG's operator
    (its instance manager's port and 5432); nothing else. The operator's namespace is the one its manifest installs."""
    services = {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": names.PART_OF,
                                                "app.kubernetes.io/component": "service"}}}
    instances = {"podSelector": {"matchLabels": {"cnpg.io/cluster": names.DB_CLUSTER}}}
    operator = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": names.CNPG_NAMESPACE}}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": names.DB_CLUSTER, "labels": {"app.kubernetes.io/part-of": names.PART_OF}},
            "spec": {"podSelector": instances["podSelector"], "policyTypes": ["Ingress"],
                     "ingress": [{"from": [services, instances], "ports": [{"port": 5432, "protocol": "TCP"}]},
                                 {"from": [operator], "ports": [{"port": 8000, "protocol": "TCP"},
                                                                {"port": 5432, "protocol": "TCP"}]}]}}


def documents() -> dict[str, list[Doc]]:
    return {"postgres.yaml": [cluster(), database(), network_policy()]}
