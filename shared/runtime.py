"""A service's process: engine, migrations, Kafka consumers, outbox relay and HTTP app, started and stopped together.

Each service's `app.py` describes itself as a `ServiceSpec`; this module owns the wiring every service shares.
"""

import asyncio
import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from aiokafka import ConsumerRebalanceListener, ConsumerRecord
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.specification import AsyncAPI
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared import http, relay_process, tracing
from shared.auth import Access, TokenValidator, authorized, unlisted
from shared.clock import Clock, clock_from
from shared.contracts import TOPIC_TYPES
from shared.db import command_table, create_engine, messaging_tables, migrate, outbox_parked_table
from shared.envelope import envelope_union
from shared.heap import settle_heap
from shared.lag import LagMonitor, every_service_group
from shared.logging import Logger, configure_logging
from shared.messaging import BatchConsumer, Routes, Tables, route_type
from shared.metrics import CONTENT_TYPE, HttpMetrics, ServiceMetrics
from shared.outbox import backlog
from shared.relay import OutboxRelay
from shared.retention import PruneHook, Pruner
from shared.settings import ServiceSettings
from shared.timers import TimerHandler, TimerRunner, timer_table
from shared.timers import figures as timer_figures
from shared.unit_of_work import Prepare

log = Logger("postloan.runtime")

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No bearer token, or one that is invalid, expired or not for this service"},
    403: {"description": "The signed-in user's roles do not allow this"},
}


@dataclasses.dataclass(frozen=True)
class Deps:
    """What a service's wiring gets to build its handlers and HTTP routes."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tables: Tables
    clock: Clock
    metrics: ServiceMetrics | None = None  # the copy's Prometheus metrics (shared.metrics)
    gates: dict[str, asyncio.Semaphore] = dataclasses.field(default_factory=dict)  # see `gate`

    def gate(self, name: str, size: int) -> asyncio.Semaphore:
        """This copy's gate `name`: at most `size` holders at once, the others waiting first come, first served
        (made on its first use, in the copy's event loop)."""
        if (found := self.gates.get(name)) is None:
            found = self.gates[name] = asyncio.Semaphore(size)
        return found


class Worker(Protocol):
    """A background loop of a service (e.g. the notifier's delivery worker), started and stopped with it."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class ServiceSpec:
    name: str  # also the PostgreSQL schema
    version: str
    description: str
    metadata: MetaData  # the service's tables; inbox and outbox are added to it
    migrations: Path
    consumers: Routes  # topic -> contract class (or CloudEvent type) -> handler
    produces: str | None  # the topic the service writes (documented in its AsyncAPI); None: dead letters only
    routes: Sequence[APIRouter] = ()  # handlers reach the runtime through `runtime_deps`
    access: Access = dataclasses.field(default_factory=dict)  # route name -> roles allowed (shared.auth)
    timers: Mapping[str, TimerHandler] | None = None  # timer kind -> handler
    on_start: Callable[[Deps], Awaitable[None]] | None = None  # e.g. seed reference data
    prepare: Prepare | None = None  # a batch's preload into its unit of work (shared.unit_of_work.Prepare)
    # Every this many handled messages a batch's buffered rows go to PostgreSQL behind the handlers (0: at the end;
    # shared.messaging.WRITE_BEHIND, measured for the requests service only: bench/README.md, seventh pass).
    write_behind: int = 0
    workers: Callable[[Deps], Sequence[Worker]] = lambda _deps: ()  # background loops of the service
    prune: PruneHook | None = None  # the service's own retention, run with the outbox and inbox pruning
    # More of the HTTP face that is not a bearer-token API (the console's pages, signed in by their own session);
    # whatever it adds must guard itself.
    extend_app: Callable[[FastAPI, "ServiceRuntime"], None] | None = None
    # Measure the consumer lag of every postloan service's group, not only its own (the console: shared.lag).
    monitors_every_group: bool = False


async def runtime_deps(request: Request) -> Deps:
    """FastAPI dependency: the running service's database sessions, clock and settings."""
    deps = request.app.state.runtime.deps
    assert deps is not None, "the service has not started"
    return deps  # type: ignore[no-any-return]


class _Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    """Marks the consumer as having joined its group (it may own no partition when copies outnumber them)."""

    def __init__(self) -> None:
        self.joined = asyncio.Event()

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.joined.set()


async def _raw_decoder(msg: KafkaMessage) -> Any:
    # Decoding happens in BatchConsumer, where a bad record can be dead-lettered; FastStream must not touch it.
    return None


async def _stop_child(child: asyncio.subprocess.Process) -> None:
    """SIGTERM (the relay finishes its round and lets go of its lock), then SIGKILL after 10 s."""
    if child.returncode is not None:
        return
    child.terminate()
    try:
        await asyncio.wait_for(child.wait(), timeout=10)
    except TimeoutError:
        child.kill()
        await child.wait()


async def _tolerant_parser(records: tuple[ConsumerRecord, ...], original: Callable[..., Awaitable[Any]]) -> Any:
    """FastStream's parser, made unable to fail on what a stranger can put in a record: it decodes every header
    value as UTF-8 and raises on a null or binary one, which would skip the whole batch, valid records included.
    Header values are made decodable first (the values and keys of the records stay intact for the consumer,
    which decides, and dead-letters, on its own)."""
    if any(v is None or not _utf8(v) for r in records for _, v in (r.headers or ())):
        records = tuple(
            dataclasses.replace(r, headers=[(k, (v or b"").decode("utf-8", "replace").encode()) for k, v in r.headers])
            for r in records
        )
    return await original(records)


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class ServiceRuntime:
    def __init__(self, spec: ServiceSpec, settings: ServiceSettings, *, clock: Clock | None = None) -> None:
        self.spec = spec
        self.settings = settings
        self.clock = clock or clock_from(**settings.clock_args())
        self.metrics = ServiceMetrics(spec.name, spec.version)
        inbox, outbox = messaging_tables(spec.metadata)
        self.tables = Tables(inbox=inbox, outbox=outbox, schema=spec.name, commands=command_table(spec.metadata))
        self.engine: AsyncEngine | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: BatchConsumer | None = None
        self._joined = _Assignment()
        self._relay_task: asyncio.Task[None] | None = None
        self._relay_child_process: asyncio.subprocess.Process | None = None
        self.relay_reports = relay_process.RelayReports(self.metrics)  # what the relay's child process last said
        self._stopping = False
        self.freeze_heap_after_start = False  # `serve` sets it: only a process that runs one service may freeze
        self.timers: TimerRunner | None = None
        self._timer_task: asyncio.Task[None] | None = None
        self.workers: list[Worker] = []
        self._worker_tasks: list[asyncio.Task[None]] = []
        self.deps: Deps | None = None
        self.token_validator = TokenValidator(
            issuer=settings.auth_issuer, audience=settings.auth_audience or f"postloan-{spec.name}",
            jwks_url=settings.auth_jwks_url or f"{settings.auth_issuer}/protocol/openid-connect/certs",
            leeway_s=settings.auth_leeway_s, min_refetch_s=settings.auth_jwks_min_refetch_s)
        # Built without I/O, so the AsyncAPI document exists before (and without) a broker connection.
        self.kafka = settings.kafka_access(spec.name)  # the service's own principal (shared/principals.py)
        # Topics are the scripts' (the admin principal's): a service may not create them and does not try.
        # Records leave through the outbox relay (acks=all, idempotent); FastStream's own producer is held to the same
        # settings, so nothing published through the broker object could be acknowledged by one copy alone.
        self.broker = KafkaBroker(self.kafka.servers, security=self.kafka.faststream_security(),
                                  allow_auto_create_topics=False, logger=logging.getLogger("postloan.faststream"),
                                  acks="all", enable_idempotence=True)
        self._subscribe()
        if spec.produces is not None:
            self.broker.publisher(
                spec.produces, title=f"{spec.name} -> {spec.produces}",
                schema=envelope_union(TOPIC_TYPES[spec.produces]),
                description=f"CloudEvents written by {spec.name} through its outbox relay; key = subject.",
            )

    async def start(self) -> None:
        s = self.settings
        url = s.database_url.get_secret_value()
        if s.migrate_on_start:
            await migrate(self.spec.migrations, url, self.spec.name)
        self.engine = create_engine(url, pool_size=s.database_pool_size)
        sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.deps = Deps(settings=s, engine=self.engine, sessions=sessions, tables=self.tables, clock=self.clock,
                         metrics=self.metrics)
        self.consumer = BatchConsumer(
            service=self.spec.name, handlers=self.spec.consumers,
            sessions=sessions, tables=self.tables, clock=self.clock,
            prepare=self.spec.prepare, settings=s, metrics=self.metrics, write_behind=self.spec.write_behind,
        )
        # A reader only (produces=None) still has a relay: the dead letters of what it consumes leave by its outbox.
        if s.relay_process:
            self._relay_task = asyncio.create_task(self._relay_child(url), name=f"{self.spec.name}-relay")
        else:
            self.relay = OutboxRelay(
                engine=self.engine, table=self.tables.outbox, schema=self.spec.name, kafka=self.kafka,
                batch_size=s.relay_batch_size, poll_interval=s.relay_poll_interval_s,
                parked=outbox_parked_table(self.spec.metadata), metrics=self.metrics,
            )
            self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.spec.name}-relay")
        if self.spec.on_start is not None:
            await self.spec.on_start(self.deps)
        if self.spec.timers is not None:
            self.timers = TimerRunner(
                service=self.spec.name, sessions=sessions, table=timer_table(self.spec.metadata), tables=self.tables,
                handlers=self.spec.timers, clock=self.clock, interval=s.timer_interval_s,
                max_attempts=s.timer_max_attempts, retry_base_s=s.timer_retry_base_s, settings=s,
                metrics=self.metrics,
            )
            self._timer_task = asyncio.create_task(self.timers.run(), name=f"{self.spec.name}-timers")
        pruner = Pruner(
            engine=self.engine, outbox=self.tables.outbox, inbox=self.tables.inbox, clock=self.clock,
            outbox_sent_days=s.retention_outbox_sent_days, inbox_days=s.retention_inbox_days,
            interval_s=s.retention_interval_s, chunk=s.retention_chunk_rows, hook=self.spec.prune,
        )
        self.lag = LagMonitor(kafka=self.kafka, groups=self._lag_groups(), metrics=self.metrics,
                              interval_s=s.lag_interval_s)
        self.workers = [*self.spec.workers(self.deps), pruner, self.lag]  # stopped with the service's own workers
        self._worker_tasks = [asyncio.create_task(w.run(), name=f"{self.spec.name}-worker") for w in self.workers]
        await self.broker.start()
        if self.freeze_heap_after_start:
            settle_heap()
        log.info("service_started", service=self.spec.name, settings=s.describe())

    def _lag_groups(self) -> dict[str, tuple[str, ...]]:
        groups = every_service_group() if self.spec.monitors_every_group else {}
        return {**groups, self.settings.consumer_group(self.spec.name): tuple(self.spec.consumers)}

    async def _relay_child(self, database_url: str) -> None:
        """Runs the relay as a child process (shared.relay_process) for as long as the service runs; a child that
        exits (it should not) is started again after a pause. Its log lines go to the service's stderr."""
        s = self.settings
        env = {**os.environ, **relay_process.environment(
            database_url=database_url, schema=self.spec.name, kafka=self.kafka,
            batch_size=s.relay_batch_size, poll_interval_s=s.relay_poll_interval_s, log_level=s.log_level,
            log_json=s.log_json)}
        while True:
            child = await asyncio.create_subprocess_exec(sys.executable, "-m", "shared.relay_process", env=env,
                                                         stdout=asyncio.subprocess.PIPE)
            self._relay_child_process = child
            assert child.stdout is not None
            reading = asyncio.create_task(relay_process.read_reports(child.stdout, self.relay_reports))
            try:
                code = await child.wait()
                await reading  # the pipe's last lines (ending at its EOF)
            except asyncio.CancelledError:
                await _stop_child(child)
                raise
            finally:
                reading.cancel()
                self.relay_reports.child_gone()
            if self._stopping:
                return
            log.error("relay_process_exited", code=code)
            await asyncio.sleep(1.0)

    @property
    def relay_leading(self) -> bool:
        """Whether this copy's relay (a task of its loop, or its child process) holds the service's relay lock."""
        return self.relay.active if self.relay is not None else self.relay_reports.leading

    def _subscribe(self) -> None:
        """One Kafka consumer per copy of the service, on all its topics (so copies rebalance once, not per topic)."""
        assert self.broker is not None
        handlers = self.spec.consumers
        subscriber = self.broker.subscriber(
            *handlers,
            group_id=self.settings.consumer_group(self.spec.name),
            batch=True,
            max_records=self.settings.consumer_max_records,
            batch_timeout_ms=self.settings.consumer_batch_timeout_ms,
            # Any record the broker accepts (its limit is 1 MiB) must be fetchable, or it would stall the partition.
            max_partition_fetch_bytes=4 * 1024 * 1024,
            auto_offset_reset="earliest",
            # Offsets are committed only after the batch's transaction commits; an unexpected error rewinds
            # (redelivery, the inbox makes it harmless). The default ACK_FIRST would lose messages.
            ack_policy=AckPolicy.NACK_ON_ERROR,
            listener=self._joined,
            decoder=_raw_decoder,
            parser=_tolerant_parser,
            title=f"{self.spec.name}",
            description="; ".join(f"{t}: {', '.join(sorted(map(route_type, h))) or 'dead-letters invalid input'}"
                                  for t, h in handlers.items()),
        )

        @subscriber
        async def consume(msg: KafkaMessage) -> None:
            assert self.consumer is not None, "the service has not started"
            await self.consumer.process(msg.raw_message)

    async def stop(self) -> None:
        if self.consumer is not None:
            self.consumer.stopping = True
        if self.broker is not None:
            await self.broker.stop()
        for worker in self.workers:
            worker.stop()
        for task in self._worker_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)
        if self.timers is not None and self._timer_task is not None:
            self.timers.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._timer_task, timeout=10)
        self._stopping = True
        if self.relay is not None and self._relay_task is not None:
            self.relay.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._relay_task, timeout=10)
        elif self._relay_task is not None:  # the relay's child process
            self._relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task
        if self.engine is not None:
            await self.engine.dispose()
        log.info("service_stopped", service=self.spec.name)

    async def wait_ready(self, timeout: float = 30.0) -> None:
        await asyncio.wait_for(self._joined.joined.wait(), timeout)

    async def ready(self) -> tuple[dict[str, bool], dict[str, Any]]:
        """The checks /ready answers on (all must hold), and the figures it shows: the outbox backlog, the age of
        its oldest unsent row (database clock) against `ready_max_outbox_age_s`, parked outbox rows and timers."""
        checks = {
            "consuming": self._joined.joined.is_set(),
            "relay_running": self._relay_task is not None and not self._relay_task.done(),
            "timers_running": self.spec.timers is None
            or (self._timer_task is not None and not self._timer_task.done()),
            "workers_running": all(not t.done() for t in self._worker_tasks),
            "outbox_keeping_up": False,
        }
        figures: dict[str, Any] = {"outbox_backlog": None, "outbox_oldest_unsent_s": None, "outbox_parked": None,
                                   "timers_parked": None, "timers_due": None,
                                   "ready_max_outbox_age_s": self.settings.ready_max_outbox_age_s}
        if self.engine is None:
            return checks, figures
        try:
            async with asyncio.timeout(2.0), self.engine.connect() as conn:
                waiting = await backlog(conn, self.tables.outbox, outbox_parked_table(self.spec.metadata))
                timers, due = (0, 0) if self.spec.timers is None else await timer_figures(
                    conn, timer_table(self.spec.metadata), self.clock.now())
        except Exception as exc:  # unknown is not ready
            log.warning("readiness_unknown", error=repr(exc)[:300])
            return checks, figures
        age = waiting.oldest_unsent_s
        checks["outbox_keeping_up"] = age is None or age <= self.settings.ready_max_outbox_age_s
        figures.update(outbox_backlog=waiting.unsent, outbox_oldest_unsent_s=None if age is None else round(age, 3),
                       outbox_parked=waiting.parked, timers_parked=timers, timers_due=due)
        return checks, figures

    async def refresh_metrics(self) -> None:
        """The gauges read at scrape time: the /ready checks and figures (one round trip to the database)."""
        checks, figures = await self.ready()
        m = self.metrics
        m.ready.set(1 if all(checks.values()) else 0)
        if figures["outbox_backlog"] is not None:  # the database answered (otherwise the last figures stand)
            m.outbox_unsent.set(figures["outbox_backlog"])
            m.outbox_oldest_age.set(figures["outbox_oldest_unsent_s"] or 0)  # None: nothing waits
            m.outbox_parked.set(figures["outbox_parked"])
            m.timers_parked.set(figures["timers_parked"])
            m.timers_due.set(figures["timers_due"])
        m.relay_leader.set(1 if self.relay_leading else 0)

    async def health(self) -> dict[str, bool]:
        checks = {"broker": False, "database": False}
        if self.broker is not None:
            with contextlib.suppress(Exception):
                checks["broker"] = bool(await self.broker.ping(timeout=2.0))
        if self.engine is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0), self.engine.connect() as conn:
                    checks["database"] = (await conn.scalar(text("SELECT 1"))) == 1
        return checks

    def asyncapi(self) -> Any:
        assert self.broker is not None
        spec = AsyncAPI(self.broker, title=f"postloan {self.spec.name}", version=self.spec.version,
                        description=self.spec.description, schema_version="3.0.0")
        return spec.to_specification().to_jsonable()

    def asgi(self) -> FastAPI:
        """The HTTP face of the process; its lifespan starts and stops everything else."""

        @contextlib.asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            _app.state.runtime = self
            try:
                yield
            finally:
                await self.stop()

        # No redirect for a path with a slash too many: an id that decodes to "/" (`/tasks/%2F`) is a 404, not a 307
        # to another route.
        app = FastAPI(title=f"postloan {self.spec.name}", version=self.spec.version,
                      description=self.spec.description, lifespan=lifespan, redirect_slashes=False)
        # Every bad input is a 4xx, never a 500: refused before any route when no route can judge it.
        http.guard(app, max_body_bytes=self.settings.http_max_body_bytes)

        # Every route needs a bearer token and one of the roles the service's table gives it (shared/auth.py).
        app.state.token_validator, app.state.access = self.token_validator, self.spec.access
        open_routes = unlisted((r for router in self.spec.routes for r in router.routes if isinstance(r, APIRoute)),
                               self.spec.access)
        if open_routes:
            raise RuntimeError(f"{self.spec.name}: routes without roles in its access table: {open_routes}")
        for router in self.spec.routes:
            app.include_router(router, responses={**http.GUARD_RESPONSES, **AUTH_RESPONSES},
                               dependencies=[Depends(authorized)])

        if self.spec.extend_app is not None:
            self.spec.extend_app(app, self)

        @app.get("/health", tags=["operations"], summary="Process up; broker and database reachable")
        async def health(response: Response) -> dict[str, Any]:
            checks = await self.health()
            response.status_code = 200 if all(checks.values()) else 503
            # The service's own clock (fixed or shifted in demos): what its decisions are judged on (SPEC §10).
            return {"service": self.spec.name, **checks, "now": self.clock.now().isoformat()}

        @app.get("/ready", tags=["operations"], summary="Consuming its topics and relaying its outbox")
        async def ready(response: Response) -> dict[str, Any]:
            checks, figures = await self.ready()
            response.status_code = 200 if all(checks.values()) else 503
            # The service's own clock (fixed or shifted in demos): what its decisions are judged on (SPEC §10).
            return {"service": self.spec.name, **checks, **figures, "now": self.clock.now().isoformat()}

        @app.get("/metrics", tags=["operations"], summary="Prometheus metrics of this copy (docs/observability.md)",
                 response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
        async def metrics() -> Response:
            await self.refresh_metrics()
            return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)

        # Outside the guard: every request is counted, those it refuses included.
        app.add_middleware(HttpMetrics, metrics=self.metrics)

        @app.get("/docs/asyncapi.json", tags=["operations"], summary="AsyncAPI document of this service")
        async def asyncapi() -> Any:
            return self.asyncapi()

        tracing.instrument(app)  # outermost: a request refused by the guard has its span too
        return app


def serve(runtime: ServiceRuntime) -> None:
    """Runs one copy of a service in the foreground until SIGINT/SIGTERM (its `main()`)."""
    s = runtime.settings
    configure_logging(runtime.spec.name, s.log_level, json=s.log_json, once=True)
    tracing.setup(runtime.spec.name)  # before the app is built: its HTTP spans are added only when tracing is on
    runtime.freeze_heap_after_start = True  # a process of its own (tests run many runtimes in one process)
    uvicorn.run(runtime.asgi(), host=s.http_host, port=s.http_port, log_config=None, access_log=False)
