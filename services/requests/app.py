"""Composition root of the requests service: `python -m services.requests` or `uvicorn --factory services.requests.app:create_app`."""

import json
from pathlib import Path

from fastapi import FastAPI

from services.requests.api import router
from services.requests.domain import Policy
from services.requests.handlers import build_handlers
from services.requests.repository import SCHEMA, metadata
from services.requests.settings import Settings
from shared.runtime import ServiceRuntime, ServiceSpec, serve

POLICIES = Path(__file__).parent / "policies"


def load_policy(name: str) -> Policy:
    path = POLICIES / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in POLICIES.glob("*.json"))
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(known)}")
    return Policy(**json.loads(path.read_text()))


def build_runtime(settings: Settings) -> ServiceRuntime:
    policy = load_policy(settings.policy)
    spec = ServiceSpec(
        name=SCHEMA,
        version="0.1.0",
        description="Post-loan change requests: debit-day changes, early repayment, their decisions.",
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        consumers=lambda _deps: build_handlers(lambda: policy),
        routes=(router,),
    )
    return ServiceRuntime(spec, settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_runtime(settings or Settings()).asgi()


def main() -> None:
    serve(build_runtime(Settings()))
