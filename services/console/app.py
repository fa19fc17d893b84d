"""Composition root of the console: `python -m services.console`, or
`uvicorn --factory services.console.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from services.console import web
from services.console.handlers import ROUTES
from services.console.readmodel import SCHEMA, metadata
from services.console.settings import Settings
from shared.runtime import ServiceRuntime, ServiceSpec, serve
from shared.settings import settings_or_exit


def build_runtime(settings: Settings) -> ServiceRuntime:
    spec = ServiceSpec(
        name=SCHEMA,
        version="0.1.0",
        description="The staff console: read models of the event streams and the pages of agents, paper clerks, "
                    "hotline staff, branch operators, supervisors and policy admins.",
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        consumers=ROUTES,
        produces=None,  # it decides nothing: actions go to the owning services' HTTP APIs as the signed-in person
        extend_app=lambda app, runtime: web.mount(app, runtime, settings),
    )
    return ServiceRuntime(spec, settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_runtime(settings or Settings()).asgi()


def main() -> None:
    serve(build_runtime(settings_or_exit(Settings)))
