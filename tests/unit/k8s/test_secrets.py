"""The Secrets the operator applies by hand (deploy.k8s.secrets) are exactly those the manifests name that no
operator makes, valid, generated once into private files and never part of the manifests."""

import stat
from pathlib import Path

from deploy.k8s import names, secrets, validate
from services import SERVICES
from shared import db_roles
from tests.unit.k8s.rendered import OVERLAYS, container, of_kind, pod_spec


def _named_by_manifests(overlay: str) -> set[str]:
    named = set()
    for deployment in of_kind(overlay, "Deployment").values():
        named |= {v["secret"]["secretName"] for v in pod_spec(deployment)["volumes"] if "secret" in v}
        named |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container(deployment)["env"] if "valueFrom" in e}
    (cluster,) = of_kind(overlay, "Cluster").values()
    return named | {r["passwordSecret"]["name"] for r in cluster["spec"]["managed"]["roles"]}


def test_the_secrets_made_are_those_the_manifests_name_and_no_operator_makes(tmp_path: Path) -> None:
    made = {d["metadata"]["name"]: d for d in secrets.documents(tmp_path)}
    by_operators = {names.KAFKA_CA_SECRET, names.DB_CA_SECRET} | {names.kafka_user(s) for s in SERVICES}
    for overlay in OVERLAYS:
        assert set(made) == _named_by_manifests(overlay) - by_operators
    for doc in made.values():
        validate.validate(doc)
    for service in SERVICES:
        assert made[names.db_secret(service)]["stringData"]["username"] == db_roles.role(service)


def test_each_value_is_generated_once_into_a_private_file_and_kept(tmp_path: Path) -> None:
    first = secrets.documents(tmp_path)
    assert secrets.documents(tmp_path) == first
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == sorted(d["metadata"]["name"] for d in first)
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
    values = [v for d in first for k, v in d["stringData"].items() if k != "username"]
    assert len(set(values)) == len(values) and all(len(v) == 48 for v in values)
