"""The validation can fail: broken manifests, rendered by kustomize like the overlays, are refused with the document
and the field named; so the overlays' passing means something."""

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.k8s import crd_schemas, validate
from services import SERVICES
from tests.unit.k8s.rendered import of_kind, rendered

Doc = dict[str, Any]


def _render(tmp_path: Path, *docs: Doc) -> list[Doc]:
    """`docs` through kustomize, as an overlay of their own."""
    (tmp_path / "docs.yaml").write_text(yaml.safe_dump_all(docs))
    (tmp_path / "kustomization.yaml").write_text("resources: [docs.yaml]\n")
    return validate.build(tmp_path)


def _deployment() -> Doc:
    return copy.deepcopy(of_kind("production", "Deployment")["postloan-requests"])


def _kafka() -> Doc:
    return copy.deepcopy(of_kind("production", "Kafka")["postloan"])


def test_the_overlay_documents_used_below_are_valid_as_they_are(tmp_path: Path) -> None:
    kinds = validate.validate_all(_render(tmp_path, _deployment(), _kafka()))
    assert kinds == {"Deployment": 1, "Kafka": 1}


def test_a_probe_path_that_is_not_a_string_is_refused(tmp_path: Path) -> None:
    broken = _deployment()
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"] = ["/health"]
    where = r"Deployment postloan-requests: .*containers/0/livenessProbe/httpGet/path"
    with pytest.raises(validate.InvalidManifest, match=where + r": \['/health'\] is not of type"):
        validate.validate_all(_render(tmp_path, broken))


def test_an_unknown_field_in_a_kafka_spec_is_refused(tmp_path: Path) -> None:
    broken = _kafka()
    broken["spec"]["kafka"]["replicas"] = 3  # a field of Strimzi's old API, moved to the node pools
    with pytest.raises(validate.InvalidManifest, match=r"Kafka postloan: spec/kafka: .*'replicas' was unexpected"):
        validate.validate_all(_render(tmp_path, broken))


def test_a_value_outside_an_operator_enum_is_refused(tmp_path: Path) -> None:
    broken = _kafka()
    broken["spec"]["kafka"]["listeners"][0]["authentication"]["type"] = "scram-sha-256"
    with pytest.raises(validate.InvalidManifest, match=r"authentication/type: 'scram-sha-256' is not one of"):
        validate.validate_all(_render(tmp_path, broken))


def test_an_unknown_field_in_a_core_kind_is_refused(tmp_path: Path) -> None:
    broken = _deployment()
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/ready"}}
    with pytest.raises(validate.InvalidManifest, match="'readinesProbe' was unexpected"):
        validate.validate_all(_render(tmp_path, broken))


def test_a_kind_without_a_schema_is_refused_not_waved_through() -> None:
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(validate.InvalidManifest, match=r"Widget w: no schema for example\.com/v1 Widget"):
        validate.validate(unknown)


def test_an_overlay_kustomize_cannot_build_is_reported(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(validate.InvalidManifest, match="kustomize build"):
        validate.build(tmp_path)


def test_the_command_exits_non_zero_on_an_invalid_overlay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = _kafka()
    broken["spec"]["kafka"]["listners"] = []
    _render(tmp_path, broken)
    assert validate.main([str(tmp_path)]) == 1
    assert "INVALID: Kafka postloan: spec/kafka: Additional properties are not allowed" in capsys.readouterr().err


def test_the_command_prints_the_documents_validated_by_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate.main(["laptop"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"laptop: {len(rendered('laptop'))} documents valid — Cluster 1, ConfigMap 6, Database 1, "
                          f"Deployment {len(SERVICES)}, Kafka 1,"), out


def test_the_crd_schema_conversion_makes_nullable_fields_null_and_listed_objects_closed() -> None:
    schema = {"type": "object", "properties": {
        "a": {"type": "string", "nullable": True},
        "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"b": {}}},
        "map": {"type": "object", "additionalProperties": {"type": "string"}}}}
    assert crd_schemas.strict(schema) == {"type": "object", "additionalProperties": False, "properties": {
        "a": {"type": ["string", "null"]},
        "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"b": {}}},
        "map": {"type": "object", "additionalProperties": {"type": "string"}}}}
