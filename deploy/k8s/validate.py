"""Renders each overlay with kustomize and validates every document offline: the Kubernetes kinds against the API's
JSON schemas (kubernetes-validate, strict: an unknown field is an error), the operators' kinds against the schemas
of their published CRDs (deploy/k8s/schemas, made by deploy.k8s.crd_schemas). A kind known to neither is an error.

`python -m deploy.k8s.validate [OVERLAY|FOLDER...]` prints, per overlay, the documents validated by kind; exit status
1 on the first overlay with an invalid document (each error names the document and the field). kustomize is the
binary deploy/kustomize.sh installs (`make test` does), never kubectl.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from deploy.k8s.crd_schemas import SCHEMAS, file_name
from shared.secret_files import state_dir

HERE = Path(__file__).parent
OVERLAYS = ("laptop", "production")
KUBERNETES_VERSION = "1.35"  # the API the manifests are checked against (kubernetes-validate ships 1.x schemas)

Doc = dict[str, Any]


class InvalidManifest(Exception):
    """A document that is not what the API server or its operator would accept."""


def kustomize() -> Path:
    """The kustomize binary deploy/kustomize.sh installs (KUSTOMIZE names another)."""
    return Path(os.environ.get("KUSTOMIZE") or state_dir() / "tools" / "bin" / "kustomize")


def build(overlay: str | Path) -> list[Doc]:
    """The overlay's documents, as `kustomize build` renders them."""
    folder = overlay if isinstance(overlay, Path) else HERE / "overlays" / overlay
    binary = kustomize()
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is missing: deploy/kustomize.sh install (make test runs it) builds it")
    done = subprocess.run([str(binary), "build", str(folder)], capture_output=True, text=True, timeout=120,
                          check=False)
    if done.returncode:
        raise InvalidManifest(f"kustomize build {folder}: {done.stderr.strip()}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator | None:
    group, _, version = api_version.rpartition("/")
    path = SCHEMAS / file_name(group, kind, version)
    return jsonschema.Draft7Validator(json.loads(path.read_text())) if path.exists() else None


def _is_core(api_version: str) -> bool:
    """The API server's own groups: no dot in the group (v1, apps/v1) or a *.k8s.io group."""
    group = api_version.rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(document)"


def validate(doc: Doc) -> None:
    """Raises InvalidManifest naming the document, the field and the fault."""
    api_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    what = f"{kind} {doc.get('metadata', {}).get('name', '?')}"
    if _is_core(api_version):
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise InvalidManifest(f"{what}: {_where(exc)}: {exc.message}") from None
        except kubernetes_validate.SchemaNotFoundError as exc:
            raise InvalidManifest(f"{what}: {exc.message}") from None
        return
    validator = _crd_validator(api_version, kind)
    if validator is None:
        raise InvalidManifest(f"{what}: no schema for {api_version} {kind} in {SCHEMAS}")
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise InvalidManifest("; ".join(f"{what}: {_where(e)}: {e.message}" for e in errors[:5]))


def validate_all(docs: list[Doc]) -> Counter[str]:
    """Validates every document; the count of each kind."""
    for doc in docs:
        validate(doc)
    return Counter(d["kind"] for d in docs)


def summary(overlay: str, kinds: Counter[str]) -> str:
    return (f"{overlay}: {sum(kinds.values())} documents valid — "
            + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))


def main(overlays: list[str]) -> int:
    """Each overlay by name (deploy/k8s/overlays/NAME), or a kustomization's folder (a name with a slash)."""
    for overlay in overlays or OVERLAYS:
        try:
            print(summary(overlay, validate_all(build(Path(overlay) if "/" in overlay else overlay))))
        except (InvalidManifest, FileNotFoundError) as exc:
            print(f"{overlay}: INVALID: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
