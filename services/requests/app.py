"""Composition root of the requests service.

Run with `python -m services.requests` or `uvicorn --factory services.requests.app:create_app`.
"""

from pathlib import Path

from fastapi import FastAPI

from services.requests.api import ACCESS, router
from services.requests.handlers import ROUTES, TIMERS
from services.requests.policies import load_policy
from services.requests.repository import SCHEMA, metadata, prepare
from services.requests.service import switch_policy
from services.requests.settings import Settings
from shared import topics
from shared.messaging import WRITE_BEHIND
from shared.runtime import Deps, ServiceRuntime, ServiceSpec, serve
from shared.settings import settings_or_exit
from shared.unit_of_work import UnitOfWork


def build_runtime(settings: Settings) -> ServiceRuntime:
    initial = load_policy(settings.policy)  # fail fast on an unknown preset

    async def seed_policy(deps: Deps) -> None:
        """The preset named in the settings is in force until an operator switches it (then it stays switched)."""
        async with deps.sessions.begin() as session:
            uow = UnitOfWork(session)
            await switch_policy(uow, deps.tables, initial, at=deps.clock.now(), by="settings", only_if_absent=True)
            await uow.flush()

    spec = ServiceSpec(
        name=SCHEMA,
        version="0.2.0",
        description="Post-loan change requests: debit-day changes, early repayment, their decisions and lifecycle.",
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        consumers=ROUTES,
        produces=topics.REQUESTS_EVENTS,
        routes=(router,),
        access=ACCESS,
        timers=TIMERS,
        on_start=seed_policy,
        prepare=prepare,
        write_behind=WRITE_BEHIND,
    )
    return ServiceRuntime(spec, settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_runtime(settings or Settings()).asgi()


def main() -> None:
    serve(build_runtime(settings_or_exit(Settings)))
