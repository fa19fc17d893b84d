"""The services' AsyncAPI and OpenAPI documents, generated from the code (`postloan docs` writes docs/)."""

import json
from pathlib import Path
from typing import Any

from cli.app import app, console
from services import SERVICES as ALL_SERVICES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SERVICES = tuple(ALL_SERVICES)


def documents(service: str) -> dict[str, Any]:
    """{"asyncapi": …, "openapi": …} of a service, built without connecting to anything."""
    module = __import__(f"services.{service}.app", fromlist=["build_runtime"])
    settings = __import__(f"services.{service}.settings", fromlist=["Settings"]).Settings
    runtime = module.build_runtime(settings(kafka_bootstrap="kafka:9092", kafka_security_protocol="PLAINTEXT"))
    return {"asyncapi": runtime.asyncapi(), "openapi": runtime.asgi().openapi()}


def path(kind: str, service: str) -> Path:
    return DOCS / kind / f"{service}.json"


def render(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@app.command("docs")
def write_docs() -> None:
    """Regenerate docs/asyncapi/*.json and docs/openapi/*.json from the code."""
    for service in SERVICES:
        for kind, document in documents(service).items():
            target = path(kind, service)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render(document), encoding="utf-8")
            console.print(f"wrote {target.relative_to(ROOT)}")


