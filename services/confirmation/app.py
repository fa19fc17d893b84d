"""Composition root of the confirmation service: `python -m services.confirmation`, or
`uvicorn --factory services.confirmation.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from services.confirmation.api import ACCESS, router
from services.confirmation.handlers import ROUTES, TIMERS
from services.confirmation.repository import SCHEMA, metadata, prepare
from services.confirmation.settings import Settings
from shared import topics
from shared.runtime import ServiceRuntime, ServiceSpec, serve
from shared.settings import settings_or_exit


def build_runtime(settings: Settings) -> ServiceRuntime:
    spec = ServiceSpec(
        name=SCHEMA,
        version="0.2.0",
        description="Co-borrower confirmation by recorded call, dispatch to agents, the paper-document ledger.",
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        consumers=ROUTES,
        produces=topics.CONFIRMATION_EVENTS,
        routes=(router,),
        access=ACCESS,
        timers=TIMERS,
        prepare=prepare,
    )
    return ServiceRuntime(spec, settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_runtime(settings or Settings()).asgi()


def main() -> None:
    serve(build_runtime(settings_or_exit(Settings)))
