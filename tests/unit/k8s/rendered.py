"""The overlays as kustomize renders them, once per test session (about a second each), and look-ups into them."""

from functools import cache
from typing import Any

from deploy.k8s import validate

Doc = dict[str, Any]
OVERLAYS = validate.OVERLAYS


@cache
def rendered(overlay: str) -> tuple[Doc, ...]:
    return tuple(validate.build(overlay))


def of_kind(overlay: str, kind: str) -> dict[str, Doc]:
    """The overlay's documents of `kind`, by name."""
    return {d["metadata"]["name"]: d for d in rendered(overlay) if d["kind"] == kind}


def pod_spec(deployment: Doc) -> Doc:
    spec: Doc = deployment["spec"]["template"]["spec"]
    return spec


def container(deployment: Doc) -> Doc:
    (only,) = pod_spec(deployment)["containers"]
    return dict(only)
