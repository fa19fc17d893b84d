"""Composition root of the notifier: `python -m services.notifier`, or
`uvicorn --factory services.notifier.app:create_app`."""

from pathlib import Path

from fastapi import FastAPI

from services.notifier.api import ACCESS, router
from services.notifier.handlers import ROUTES, TIMERS
from services.notifier.repository import SCHEMA, DeliveryRow, metadata, prepare
from services.notifier.settings import Settings
from services.notifier.worker import DeliveryWorker
from shared import topics
from shared.retention import clear_old
from shared.runtime import ServiceRuntime, ServiceSpec, serve
from shared.settings import settings_or_exit


def build_runtime(settings: Settings) -> ServiceRuntime:
    spec = ServiceSpec(
        name=SCHEMA,
        version="0.2.0",
        description="Customer and staff notifications in three languages over four channels, once per event.",
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        consumers=ROUTES,
        produces=topics.NOTIFICATIONS_EVENTS,
        routes=(router,),
        access=ACCESS,
        timers=TIMERS,
        prepare=prepare,
        # Retention: delivered message bodies are cleared after a while; the delivery log (rows) stays.
        prune=clear_old(DeliveryRow.c.body, value="", older=DeliveryRow.c.sent_at,
                        where=DeliveryRow.c.status == "SENT", days=settings.retention_delivery_body_days),
        workers=lambda deps: [DeliveryWorker(sessions=deps.sessions, tables=deps.tables, clock=deps.clock,
                                             settings=settings, metrics=deps.metrics)],
    )
    return ServiceRuntime(spec, settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_runtime(settings or Settings()).asgi()


def main() -> None:
    serve(build_runtime(settings_or_exit(Settings)))
