"""Composition root of the appointments service: `python -m services.appointments`, or
`uvicorn --factory services.appointments.app:create_app`."""

import json
from pathlib import Path

from fastapi import FastAPI

from services.appointments import domain
from services.appointments.api import ACCESS, router
from services.appointments.handlers import ROUTES, TIMERS, plan_of
from services.appointments.repository import SCHEMA, BranchRepository, metadata, prepare
from services.appointments.settings import Settings
from shared import topics
from shared.contracts import appointments as contract
from shared.runtime import Deps, ServiceRuntime, ServiceSpec, serve
from shared.settings import settings_or_exit
from shared.unit_of_work import UnitOfWork


def load_branches(path: Path, *, booking_window_days: int) -> list[domain.Plan]:
    """Branch plans from a data file: a JSON list of SetBranchPlan data (without command_id); an entry that
    names no booking window gets `booking_window_days`."""
    items = json.loads(path.read_text(encoding="utf-8"))
    plans = [plan_of(contract.SetBranchPlan(command_id="seed", **{"booking_window_days": booking_window_days,
                                                                   **item})) for item in items]
    for plan in plans:
        if (problem := domain.plan_problem(plan)) is not None:
            raise ValueError(f"{path}: {plan.branch_id}: {problem.reason}")
    return plans


def build_runtime(settings: Settings) -> ServiceRuntime:
    seeds = (load_branches(settings.branches_file, booking_window_days=settings.booking_window_days)
             if settings.branches_file else [])

    async def seed_branches(deps: Deps) -> None:
        """Known branches keep whatever operators set; only missing ones are added."""
        async with deps.sessions.begin() as session:
            uow = UnitOfWork(session)
            for plan in seeds:
                await BranchRepository(uow).save_plan(plan, deps.clock.now(), only_if_absent=True)
            await uow.flush()

    spec = ServiceSpec(
        name=SCHEMA,
        version="0.2.0",
        description="Branch plans and live capacity, bookings that never overbook, check-in with priority tickets.",
        metadata=metadata,
        migrations=Path(__file__).parent / "migrations",
        consumers=ROUTES,
        produces=topics.APPOINTMENTS_EVENTS,
        routes=(router,),
        access=ACCESS,
        timers=TIMERS,
        prepare=prepare,
        on_start=seed_branches,
    )
    return ServiceRuntime(spec, settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    return build_runtime(settings or Settings()).asgi()


def main() -> None:
    serve(build_runtime(settings_or_exit(Settings)))
