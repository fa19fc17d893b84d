"""Composition root of the appointments service: `python -m services.appointments` or `uvicorn --factory services.appointments.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from services.appointments.handlers import build_handlers
from services.appointments.repository import SCHEMA, metadata
from services.appointments.settings import Settings
from shared.runtime import ServiceRuntime, ServiceSpec, serve


def build_runtime(settings: Settings) -> ServiceRuntime:
    spec = ServiceSpec(
        name=SCHEMA,
        version="0.1.0",
        description="Branch plans, capacity control, bookings, check-in with priority tickets.",
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        consumers=lambda _deps: build_handlers(),
    )
    return ServiceRuntime(spec, settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_runtime(settings or Settings()).asgi()


def main() -> None:
    serve(build_runtime(Settings()))
