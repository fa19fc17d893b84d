"""Turns operators' CustomResourceDefinitions into the JSON schemas deploy/k8s/schemas/ keeps (one file per kind and
version: `<group>_<kind>_<version>.json`), for validating custom resources offline.

`python -m deploy.k8s.crd_schemas CRD.yaml...` — the CRDs come from the operators' repositories at a release
(schemas/SOURCES.md says which). The API server prunes unknown fields of a structural schema, and rejects them when
asked to validate strictly (kubectl's default, `--validate=strict`); the schemas written here reject them always,
so a misspelt field is an error here rather than a setting silently dropped there.
"""

import json
import sys
from pathlib import Path
from typing import Any

import yaml

SCHEMAS = Path(__file__).parent / "schemas"
_OPENAPI_ONLY = "nullable"


def strict(schema: Any) -> Any:
    """The OpenAPI v3 schema as JSON Schema: `nullable` becomes a null type, objects with listed properties accept no
    others (unless the CRD keeps unknown fields or gives additionalProperties itself)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items() if k != _OPENAPI_ONLY}
    if schema.get(_OPENAPI_ONLY) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def file_name(group: str, kind: str, version: str) -> str:
    return f"{group}_{kind.lower()}_{version}.json"


def convert(crd: dict[str, Any]) -> dict[str, Any]:
    """File name -> JSON schema of each served version of `crd`."""
    spec = crd["spec"]
    return {file_name(spec["group"], spec["names"]["kind"], v["name"]):
            {"$schema": "http://json-schema.org/draft-07/schema#", **strict(v["schema"]["openAPIV3Schema"])}
            for v in spec["versions"] if v.get("served")}


def main(paths: list[str]) -> None:
    for path in paths:
        for name, schema in convert(yaml.safe_load(Path(path).read_text())).items():
            (SCHEMAS / name).write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n")
            print(f"{path} -> deploy/k8s/schemas/{name}")


if __name__ == "__main__":
    main(sys.argv[1:])
