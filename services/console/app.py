"""Composition root of the console: `python -m services.console`, or
`uvicorn --factory services.console.app:create_app`."""

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from services.console import web
from services.console.deadletters import DeadLetterCounter
from services.console.handlers import ROUTES
from services.console.live import Hub, Listener, expose
from services.console.readmodel import SCHEMA, metadata
from services.console.settings import Settings
from shared.runtime import Deps, ServiceRuntime, ServiceSpec, Worker, serve
from shared.settings import settings_or_exit


def build_runtime(settings: Settings) -> ServiceRuntime:
    hub = Hub()  # this copy's live changes; the pages reach it with services.console.live.hub_of(app)

    def workers(deps: Deps) -> Sequence[Worker]:
        return [Listener(settings.database_url.get_secret_value(), hub),
                DeadLetterCounter(settings.kafka_access(SCHEMA), deps.engine, deps.clock,
                                  interval_s=settings.dead_letter_poll_s, metrics=deps.metrics)]

    def extend_app(app: FastAPI, runtime: ServiceRuntime) -> None:
        expose(app, hub)
        web.mount(app, runtime, settings)

    spec = ServiceSpec(
        name=SCHEMA,
        version="0.1.0",
        description="The staff console: read models of the event streams and the pages of agents, paper clerks, "
                    "hotline staff, branch operators, supervisors and policy admins.",
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        consumers=ROUTES,
        produces=None,  # it decides nothing: actions go to the owning services' HTTP APIs as the signed-in person
        workers=workers,
        extend_app=extend_app,
        monitors_every_group=True,  # operations see a stopped service's lag here (shared.lag)
    )
    return ServiceRuntime(spec, settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_runtime(settings or Settings()).asgi()


def main() -> None:
    serve(build_runtime(settings_or_exit(Settings)))
