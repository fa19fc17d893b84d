"""Faults under load (issue 16): the load a fault test sends, the service copies it runs, and the exactly-once check.

The interface every fault test uses (the broker-kill test too):

    work = a_workload(debit_day_changes=600, bookings=240)  # loans, branch plans and commands (unique ids)
    driver = LoadDriver(kafka)                             # a KafkaDriver: each topic written as its writer
    await driver.prepare(work, db)                         # snapshots and plans, waited for in every projection
    async with kafka.watch(*EVENT_TOPICS) as watch:       # the events topics, from before the load
        sending = asyncio.create_task(driver.send(work.commands, per_second=80))
        await driver.reached(len(work.commands) // 3)     # a third sent: inject the fault here
        ...
        await sending
        report, tally = await settle(work, watch, db, access)  # every answer waited for, then everything counted
    report.write("<fault>", seconds_to_recover=...)       # bench/results/issue16/<fault>.json, and the run's summary
    report.assert_exactly_once()

`db` is a `Database` (the test database as its superuser), `access` the broker as the admin (`infra.kafka_as()`);
`Fleet` runs copies of the services as processes and kills them; `rebalanced` and `group_assignment` read a consumer
group's members and partitions from the broker.

What "done once" means here. Transport may repeat itself after a crash: the relay of a copy killed (or cut off from
its database) after publishing a record but before marking its row sent publishes it again with the same CloudEvent
id, and consumers skip it by that id (their inbox). Such repeats are counted (`redelivered`) but are not duplicates.
A duplicate is an *effect* done twice: a second distinct answer (another event id) to one command, a second request,
booking, call task or delivery, a counter moved twice, a state transition recorded twice, an outbox row queued twice.
Those are what `Report.duplicates` counts, from the events topics and from the services' own tables.
"""

import asyncio
import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from harness.builders import a_debit_day_change, a_loan, primary_of, ref
from harness.infra import ROOT, Infra
from services import SERVICES as ALL_SERVICES
from shared import principals, topics
from shared.contracts import Contract
from shared.contracts import appointments as A
from shared.contracts.loans import LoanSnapshot
from shared.envelope import new_event
from shared.kafka_admin import admin_client
from shared.kafka_security import KafkaAccess
from shared.lag import every_service_group, lag_now
from shared.outbox import OutgoingRecord, kafka_headers
from tests.support import wait
from tests.support.kafka import KafkaDriver, Seen, Watch, source_of
from tests.support.metrics import parse, value
from tests.support.services import Process, start_processes, stop_processes

RESULTS = ROOT / "bench" / "results" / "issue16"
SUMMARY: list[str] = []  # one line per fault run, printed at the end of the run (tests/faults/conftest.py)
WORKERS = tuple(name for name in ALL_SERVICES if name != "console")  # the services a command's chain goes through
EVENT_TOPICS = (topics.REQUESTS_EVENTS, topics.CONFIRMATION_EVENTS, topics.APPOINTMENTS_EVENTS,
                topics.NOTIFICATIONS_EVENTS)
# The first answer to a command, by the topic its answer goes to (CONTRACT.md): every one carries its command_id.
ANSWERS = {topics.REQUESTS_EVENTS: {"RequestSubmitted", "RequestRejected", "CommandRejected"},
           topics.APPOINTMENTS_EVENTS: {"SlotBooked", "BookingRejected", "CommandRejected"}}
BOOKING_DAY = date(2020, 2, 10)  # a Monday inside the booking window of the account's first day (3 February 2020)
SLOTS = tuple(clock_time(9 + i // 2, 30 * (i % 2)) for i in range(16))  # 09:00 .. 16:30, half-hourly


# --- the load ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One command of the load: its topic, its key and the command itself."""

    topic: str
    key: str
    command: Contract

    @property
    def command_id(self) -> str:
        return str(getattr(self.command, "command_id"))  # noqa: B009 - every command has one (shared.contracts)


@dataclass(frozen=True)
class Workload:
    """Loans and branches the load needs in place first, and the commands it sends (ids unique to this load)."""

    loans: list[LoanSnapshot]
    plans: list[A.SetBranchPlan]
    commands: list[Sent]

    @property
    def co_borrowed(self) -> set[str]:
        """Loans with a co-borrower: their requests wait for a call task each (the confirmation service's work)."""
        return {loan.loan_id for loan in self.loans if len(loan.borrowers) > 1}


def a_workload(*, debit_day_changes: int, bookings: int, co_borrower_every: int = 4, branches: int = 6,
               daily_cap: int = 30) -> Workload:
    """`debit_day_changes` single commands on loans of their own (every `co_borrower_every`-th loan has a
    co-borrower, so the confirmation service makes a call task), and `bookings` spread over `branches` branches
    whose day holds `daily_cap` tickets (more bookings than that are refused DAY_FULL: answers too, and the cap
    must hold under the fault). Commands are interleaved so every service has work all along the load."""
    loans = [a_loan(co_borrowers=1 if i % co_borrower_every == 0 else 0, next_due_date=date(2020, 2, 25),
                    debit_day=25) for i in range(debit_day_changes)]
    plans = [_a_branch(daily_cap) for _ in range(branches)]
    changes = [Sent(topics.REQUESTS_COMMANDS, loan.loan_id, a_debit_day_change(loan, 20)) for loan in loans]
    customers = [primary_of(loans[i % len(loans)]) if loans else ref("C") for i in range(bookings)]
    booked = [Sent(topics.APPOINTMENTS_COMMANDS, plans[i % branches].branch_id, A.BookSlot(
        command_id=ref("cmd"), customer_id=customers[i], branch_id=plans[i % branches].branch_id, date=BOOKING_DAY,
        start_time=SLOTS[(i // branches) % len(SLOTS)], service_type=A.ServiceType.DEBIT_DAY_CHANGE))
        for i in range(bookings)]
    return Workload(loans, plans, _interleaved(changes, booked))


def _a_branch(daily_cap: int) -> A.SetBranchPlan:
    window = A.Window(start=clock_time(9), end=clock_time(17), capacity_per_slot=4)
    return A.SetBranchPlan(command_id=ref("cmd"), branch_id=ref("BR"), name="Fault branch", address="1 Test Road",
                           timezone="Asia/Shanghai", slot_minutes=30, daily_cap=daily_cap,
                           weekly={A.Weekday(d): [window] for d in ("MON", "TUE", "WED", "THU", "FRI")})


def _interleaved(first: list[Sent], second: list[Sent]) -> list[Sent]:
    """`second` spread evenly through `first` (each item placed by its fraction of its own list)."""
    placed = [(i / len(first), 0, x) for i, x in enumerate(first)] + [(j / len(second), 1, y)
                                                                      for j, y in enumerate(second)]
    return [item for *_, item in sorted(placed, key=lambda p: (p[0], p[1]))]


class LoadDriver:
    """Sends a workload the way channels and core banking would: each topic as its writer, paced."""

    def __init__(self, kafka: KafkaDriver) -> None:
        self.kafka = kafka
        self.sent = 0

    async def prepare(self, work: Workload, db: "Database", timeout: float = 120) -> None:
        """Publishes the loans and branch plans, and returns once every service holds what it needs of them (so
        an answer depends on the command alone, not on a race with a projection)."""
        await self._publish([Sent(topics.LOANS_SNAPSHOTS, loan.loan_id, loan) for loan in work.loans]
                            + [Sent(topics.APPOINTMENTS_COMMANDS, p.branch_id, p) for p in work.plans])
        loans = [loan.loan_id for loan in work.loans]
        customers = [b.customer_id for loan in work.loans for b in loan.borrowers]
        branches = [p.branch_id for p in work.plans]
        wanted = {
            "SELECT count(*) FROM requests.loans WHERE loan_id = ANY($1)": (loans, len(loans)),
            "SELECT count(*) FROM confirmation.contacts WHERE customer_id = ANY($1)": (customers, len(customers)),
            "SELECT count(*) FROM notifier.recipients WHERE customer_id = ANY($1)": (customers, len(customers)),
            "SELECT count(*) FROM appointments.branches WHERE branch_id = ANY($1)": (branches, len(branches)),
        }
        for query, (ids, count) in wanted.items():
            await eventually(lambda q=query, i=ids, n=count: db.fetchval_is(q, n, i), timeout=timeout,
                             what=f"the load's loans and branches in place ({query.split()[3]})")

    async def send(self, commands: Sequence[Sent], *, per_second: float) -> None:
        """Sends `commands` in order at about `per_second`, each handed to the producer without waiting for the
        broker (so a slow broker does not slow the pace), then waits for every delivery."""
        started = time.monotonic()
        deliveries = []
        tick = 0.05
        per_tick = max(1, round(per_second * tick))
        for start in range(0, len(commands), per_tick):
            deliveries += [await self._hand_over(c) for c in commands[start:start + per_tick]]
            self.sent += len(commands[start:start + per_tick])
            await asyncio.sleep(max(0.0, started + (start + per_tick) / per_second - time.monotonic()))
        await asyncio.gather(*deliveries)

    async def reached(self, count: int, timeout: float = 120) -> None:
        """Returns once `count` commands have been handed to the producer."""
        await eventually(lambda: _true(self.sent >= count), timeout=timeout, what=f"{count} commands sent")

    async def _publish(self, items: Iterable[Sent]) -> None:
        await asyncio.gather(*[await self._hand_over(item) for item in items])

    async def _hand_over(self, item: Sent) -> "asyncio.Future[Any]":
        event = new_event(item.command, source=source_of(item.topic), subject=item.key, time=datetime.now(UTC))
        record = OutgoingRecord.of_event(item.topic, event)
        producer = await self.kafka.producer(principals.writer_of(item.topic).name)
        future: asyncio.Future[Any] = await producer.send(item.topic, record.value, key=record.key,
                                                          headers=kafka_headers(record.headers))
        return future


async def _true(condition: bool) -> bool:
    return condition


# The project's polling, at a slower pace: a check here is often a count over every service's tables under load.
eventually = functools.partial(wait.eventually, every=0.2)


# --- the database, as the test's superuser sees every schema --------------------------------------------------------


class Database:
    """Short-lived connections to the test database (a server restarted under the test must not break it)."""

    def __init__(self, infra: Infra) -> None:
        self.dsn = infra.database_url.replace("postgresql+asyncpg://", "postgresql://")

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await asyncpg.connect(self.dsn, timeout=5)
        try:
            yield conn
        finally:
            await conn.close()

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(query, *args)

    async def fetchval_is(self, query: str, expected: Any, *args: Any) -> bool:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            return bool(await self.fetchval(query, *args) == expected)
        return False


# --- service copies as processes ------------------------------------------------------------------------------------


# The copies' environment. The schemas are migrated once before (tests/faults/conftest.py): nine copies running Alembic
# at once would only queue on its lock. Their bytecode is cached under .local/pycache: with PYTHONDONTWRITEBYTECODE
# set (as it may be in CI) and a virtualenv installed without bytecode, each copy would compile every module it imports
# (about 7 s of a core each, so nine copies starting at once took minutes on two cores).
COPY_ENV = {"POSTLOAN_MIGRATE_ON_START": "false", "PYTHONDONTWRITEBYTECODE": "",
            "PYTHONPYCACHEPREFIX": str(ROOT / ".local" / "pycache")}
_warm: list[bool] = []


async def _compiled() -> None:
    """Compiles the services' modules into the copies' bytecode cache once per run (one process), so the copies
    started together only load them."""
    if _warm:
        return
    imports = "; ".join(f"import services.{name}.app" for name in ALL_SERVICES)
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", imports], cwd=ROOT, check=False,
                                   env={**os.environ, **COPY_ENV, "PYTHONPATH": str(ROOT)}, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    _warm.append(True)


class Fleet:
    """Copies of the services as separate processes (`python -m services.<name>`), each on its own HTTP port, in
    the same consumer groups as any other copy of their service."""

    def __init__(self, infra: Infra, log_dir: Path, ports: Iterable[int]) -> None:
        self.infra = infra
        self.log_dir = log_dir
        self._ports = iter(ports)
        self.copies: list[Process] = []

    async def start(self, copies: Mapping[str, int]) -> None:
        names = tuple(name for name, n in copies.items() for _ in range(n))
        await _compiled()
        self.copies += await start_processes(self.infra, self.log_dir, names, ports=[next(self._ports) for _ in names],
                                             extra_env=COPY_ENV)

    def of(self, name: str) -> list[Process]:
        """The copies of `name` still running."""
        return [p for p in self.copies if p.info.name == name and p.popen.poll() is None]

    def kill(self, copy: Process) -> float:
        """`kill -9`: no shutdown, no offset commit, no relay lock handed over. Returns when (epoch seconds)."""
        os.kill(copy.popen.pid, signal.SIGKILL)
        copy.popen.wait(timeout=10)
        return time.time()

    def running(self) -> list[Process]:
        return [p for p in self.copies if p.popen.poll() is None]

    def stop(self) -> None:
        stop_processes(self.running())

    def log_count(self, event: str) -> int:
        """How many log lines of every copy name `event` (structlog's event field)."""
        needle = f'"event": "{event}"'.encode()
        return sum(p.log.read_bytes().count(needle) for p in self.copies if p.log.exists())


async def scrape(copy: Process) -> dict[Any, float]:
    async with httpx.AsyncClient(base_url=copy.url, timeout=5) as client:
        response = await client.get("/metrics")
        response.raise_for_status()
        return parse(response.text)


def consumed(samples: dict[Any, float], outcome: str = "applied") -> int:
    """Records a copy consumed with `outcome` (applied, duplicate: skipped by its event id, ...), all topics."""
    return int(sum(v for (name, labels), v in samples.items()
                   if name == "postloan_records_consumed_total" and ("outcome", outcome) in labels))


async def relay_leader(copies: Sequence[Process], timeout: float = 30) -> Process:
    """The copy whose relay holds the service's relay lock (postloan_relay_leader)."""
    found: list[Process] = []

    async def one_leads() -> bool:
        found[:] = [c for c in copies if value(await scrape(c), "postloan_relay_leader") == 1]
        return len(found) == 1

    await eventually(one_leads, timeout=timeout, what="one relay leader")
    return found[0]


async def all_ready(copies: Sequence[Process]) -> bool:
    async with httpx.AsyncClient(timeout=3) as client:
        for copy in copies:
            try:
                if (await client.get(f"{copy.url}/ready")).status_code != 200:
                    return False
            except httpx.HTTPError:
                return False
    return True


# --- consumer groups ------------------------------------------------------------------------------------------------


Assignment = dict[str, list[str]]  # member id -> "topic/partition" it owns


async def group_assignment(access: KafkaAccess, group: str) -> tuple[str, Assignment]:
    """The group's state and each member's partitions, as the broker's coordinator describes them."""
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

    async with admin_client(access) as admin:
        [response] = await admin.describe_consumer_groups([group])
    _error, _group, state, _protocol_type, _protocol, members, *_ = response.groups[0]
    owned: Assignment = {}
    for member in members:
        member_id, assignment = member[0], member[-1]
        parts = ConsumerProtocolMemberAssignment.decode(assignment).assignment if assignment else []
        owned[member_id] = sorted(f"{t}/{p}" for t, ps in parts for p in ps)
    return state, owned


async def rebalanced(access: KafkaAccess, group: str, *, members: int, partitions: int,
                     timeout: float = 90) -> Assignment:
    """Waits until the group is Stable with `members` members sharing all `partitions` of its topics."""
    found: Assignment = {}

    async def settled() -> bool:
        state, owned = await group_assignment(access, group)
        found.clear()
        found.update(owned)
        return (state == "Stable" and len(owned) == members and all(owned.values())
                and sum(map(len, owned.values())) == partitions)

    await eventually(settled, timeout=timeout, what=f"{group} with {members} members owning {partitions} partitions",
                     every=0.25)
    return found


async def lag(access: KafkaAccess, services: Iterable[str] = WORKERS) -> int:
    """Records the services' consumer groups have not yet committed, summed (shared.lag's measure)."""
    wanted = set(services)
    return await lag_now(access, {g: ts for g, ts in every_service_group().items() if g.split(".", 1)[1] in wanted})


# --- what came out, and the verdict ---------------------------------------------------------------------------------


FOLLOWING = {"RequestApproved": "request_id", "ConfirmationCallRequested": "request_id",
             "NotificationSent": "notification_id"}  # what follows an answer, by the field it is counted per


class Tally:
    """The records of the events topics, each parsed once: the answers to the load's commands and what followed."""

    def __init__(self, work: Workload) -> None:
        self.commands = {c.command_id: c for c in work.commands}
        self.answers: dict[str, set[str]] = defaultdict(set)  # command id -> the distinct answers' event ids
        self.answer_types: dict[str, str] = {}  # answer event id -> its type
        self.requests: dict[str, str] = {}  # request id -> the command id it answers
        self.following: dict[str, dict[str, set[str]]] = {t: defaultdict(set) for t in FOLLOWING}
        self.copies: Counter[str] = Counter()  # event id -> records carrying it (a relay's repeat counts twice)
        self.topic_of: dict[str, str] = {}  # event id -> its topic
        self.answered_ms: dict[str, int] = {}  # command id -> when its answer was published (the record's timestamp)
        self._read = 0

    def update(self, seen: Sequence[Seen]) -> None:
        for record in seen[self._read:]:
            self._take(record)
        self._read = len(seen)

    def _take(self, record: Seen) -> None:
        try:
            event = json.loads(record.value)
            kind, event_id, data = event["type"], event["id"], event["data"]
        except (ValueError, KeyError, TypeError):
            return  # not ours (the events topics carry only CloudEvents, but a test must not trip on one)
        command_id = data.get("command_id") if isinstance(data, dict) else None
        answer = command_id in self.commands and kind in ANSWERS.get(record.topic, ())
        if answer or kind in FOLLOWING:
            self.copies[event_id] += 1
            self.topic_of[event_id] = record.topic
        if answer:
            self.answers[command_id].add(event_id)
            self.answer_types[event_id] = kind
            at = record.timestamp_ms
            self.answered_ms[command_id] = min(at, self.answered_ms.get(command_id, at))
            if kind == "RequestSubmitted":
                self.requests[data["request_id"]] = command_id
        elif kind in FOLLOWING:
            self.following[kind][data[FOLLOWING[kind]]].add(event_id)

    @property
    def answered(self) -> int:
        return sum(1 for cid in self.commands if self.answers.get(cid))

    def seconds_to_answer(self, commands: Iterable[Sent], since: float) -> float:
        """From `since` (epoch seconds: a fault) until the last of `commands` was answered: how long the commands
        caught in the fault waited."""
        return round(max(self.answered_ms[c.command_id] for c in commands) / 1000 - since, 1)

    def of_type(self, *kinds: str) -> list[str]:
        """The answer event ids of these types."""
        return [eid for eid, kind in self.answer_types.items() if kind in kinds]

    def notified(self) -> list[str]:
        """The events of the load the notifier tells a customer of: answers, and the approvals of its requests."""
        approvals = self.following["RequestApproved"]
        return self.of_type(*NOTIFIED) + [eid for rid in self.requests for eid in approvals.get(rid, ())]


@dataclass
class Report:
    """The figures of one fault run. `duplicates` counts effects done twice, `lost` effects never done (including
    commands never answered); `redelivered` counts records a relay published again under the same event id (skipped
    by every consumer: transport, not effect)."""

    commands: int
    answered: int
    duplicates: int
    lost: int
    redelivered: int
    redelivered_on: dict[str, int] = field(default_factory=dict)  # by topic
    seconds_to_settle: float = 0.0  # after the last command was sent, until everything it caused was counted
    checks: dict[str, int] = field(default_factory=dict)  # what each check counted (rows, events)
    problems: list[str] = field(default_factory=list)

    def flag(self, what: str, count: int, *, duplicate: bool) -> None:
        if count:
            self.problems.append(f"{what}: {count}")
            if duplicate:
                self.duplicates += count
            else:
                self.lost += count

    def assert_exactly_once(self) -> None:
        assert (self.answered, self.lost, self.duplicates, self.problems) == (self.commands, 0, 0, []), self

    def write(self, fault: str, **extra: Any) -> dict[str, Any]:
        """Prints the figures and writes them to bench/results/issue16/<fault>.json; returns them."""
        figures = {"fault": fault, **{k: v for k, v in asdict(self).items() if k != "problems"}, **extra,
                   "problems": self.problems,
                   "machine": f"{os.cpu_count()} cores; broker, database, services and driver on the same machine",
                   "load_average_1_5_15_min": [round(x, 1) for x in os.getloadavg()],  # others' work on the machine
                   "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{fault}.json").write_text(json.dumps(figures, indent=2) + "\n")
        SUMMARY.append(f"fault {fault}: {self.commands} commands, {self.answered} answered, {self.duplicates} "
                       f"duplicates, {self.lost} lost, {self.redelivered} redelivered; "
                       + ", ".join(f"{k} {v}" for k, v in extra.items() if k.startswith("seconds")))
        return figures


async def settle(work: Workload, watch: Watch, db: Database, access: KafkaAccess, *,
                 timeout: float = 180) -> tuple[Report, Tally]:
    """Waits for every command's answer and everything that follows from it (the positive markers), then until
    nothing more can come (no consumer lag, every outbox sent, every delivery made, the watch at the end offsets),
    and only then counts: answers per command id on the events topics, rows per command in the services' tables."""
    tally, started = Tally(work), time.monotonic()

    async def answered() -> bool:
        tally.update(watch.seen)
        return tally.answered == len(work.commands)

    await eventually(answered, timeout=timeout, what=f"answers to all {len(work.commands)} commands")
    async def followed() -> bool:
        tally.update(watch.seen)
        return await _followed(work, tally, db)

    await eventually(followed, timeout=timeout, what="approvals, call tasks, deliveries")
    await eventually(lambda: _quiet(db, access), timeout=timeout, what="no lag, no unsent outbox row")
    await watch.caught_up(timeout=60)
    tally.update(watch.seen)
    report = verdict(work, tally)
    report.seconds_to_settle = round(time.monotonic() - started, 1)
    await _count_rows(work, tally, db, report)
    return report, tally


def verdict(work: Workload, tally: Tally) -> Report:
    """What the events topics say: answers per command id, approvals and call tasks per request."""
    again: Counter[str] = Counter()
    for eid, n in tally.copies.items():
        again[tally.topic_of[eid]] += n - 1
    again = +again  # the topics with a repeat only
    report = Report(len(work.commands), tally.answered, 0, 0, sum(again.values()), dict(again))
    _count_answers(work, tally, report)
    return report


def _expected_following(work: Workload, tally: Tally) -> dict[str, set[str]]:
    """What must follow each accepted debit-day change: an approval when the loan has no co-borrower, a call task
    (ConfirmationCallRequested) when it has one."""
    co = work.co_borrowed
    submitted = {rid: tally.commands[cid] for rid, cid in tally.requests.items()}
    return {"RequestApproved": {rid for rid, c in submitted.items() if c.key not in co},
            "ConfirmationCallRequested": {rid for rid, c in submitted.items() if c.key in co}}


async def _followed(work: Workload, tally: Tally, db: Database) -> bool:
    for kind, wanted in _expected_following(work, tally).items():
        if any(not tally.following[kind].get(rid) for rid in wanted):
            return False
    events = tally.notified()
    return await db.fetchval_is(
        "SELECT count(DISTINCT event_id) = $2 AND bool_and(status = 'SENT') FROM notifier.deliveries "
        "WHERE event_id = ANY($1)", True, events, len(events))


NOTIFIED = ("RequestSubmitted", "RequestRejected", "SlotBooked", "BookingRejected")  # answers a customer hears of


async def _quiet(db: Database, access: KafkaAccess) -> bool:
    unsent = " + ".join(f"(SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL)" for s in WORKERS)
    return await lag(access) == 0 and await db.fetchval_is(f"SELECT {unsent}", 0)


def _count_answers(work: Workload, tally: Tally, report: Report) -> None:
    extra = sum(len(ids) - 1 for ids in tally.answers.values() if len(ids) > 1)
    report.flag("commands with more than one answer (distinct event ids)", extra, duplicate=True)
    report.flag("commands never answered", len(work.commands) - tally.answered, duplicate=False)
    for kind, wanted in _expected_following(work, tally).items():
        found = tally.following[kind]
        report.flag(f"{kind} missing", sum(1 for rid in wanted if not found.get(rid)), duplicate=False)
        report.flag(f"{kind} twice (distinct event ids)", sum(len(found[r]) - 1 for r in wanted if len(found[r]) > 1),
                    duplicate=True)
        report.checks[kind] = sum(1 for rid in wanted if found.get(rid))
    report.checks["answers"] = sum(map(len, tally.answers.values()))


# The services' tables, one check each: (what, query, the ids it takes, whether a count found is a duplicate or a
# loss). Each query returns the number of offending rows; the ids are lists named as in `_count_rows`.
RowCheck = tuple[str, str, tuple[str, ...], bool]
_ROW_CHECKS: tuple[RowCheck, ...] = (
    ("requests per accepted command other than one",
     "SELECT count(*) FROM unnest($1::text[]) AS c(id) WHERE (SELECT count(*) FROM requests.requests r "
     "WHERE r.command_id = c.id) <> 1", ("accepted",), False),
    ("requests for refused or unanswered commands",
     "SELECT count(*) FROM requests.requests WHERE command_id = ANY($1) AND NOT command_id = ANY($2)",
     ("commands", "accepted"), True),
    ("state transitions recorded twice",
     "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM requests.transitions "
     "WHERE request_id = ANY($1) GROUP BY request_id, from_state, to_state) t WHERE n > 1", ("requests",), True),
    ("call tasks per co-borrowed request other than one",
     "SELECT count(*) FROM unnest($1::text[]) AS q(id) WHERE (SELECT count(*) FROM confirmation.tasks t "
     "WHERE t.request_id = q.id) <> 1", ("co_borrowed",), True),
    ("bookings per SlotBooked answer other than one",
     "SELECT count(*) FROM unnest($1::text[]) AS c(id) WHERE (SELECT count(*) FROM appointments.bookings b "
     "WHERE b.command_id = c.id) <> 1", ("booked",), True),
    ("bookings for refused booking commands",
     "SELECT count(*) FROM appointments.bookings WHERE command_id = ANY($1) AND NOT command_id = ANY($2)",
     ("commands", "booked"), True),
    ("day counters off their bookings",
     "SELECT coalesce(sum(abs(d.booked - (SELECT count(*) FROM appointments.bookings b WHERE b.branch_id = "
     "d.branch_id AND b.date = d.date AND b.state <> 'CANCELLED'))), 0) FROM appointments.day_counters d "
     "WHERE d.branch_id = ANY($1)", ("branches",), True),
    ("slot counters off their bookings",
     "SELECT coalesce(sum(abs(s.booked - (SELECT count(*) FROM appointments.bookings b WHERE b.branch_id = "
     "s.branch_id AND b.date = s.date AND b.start_time = s.start_time AND b.state <> 'CANCELLED'))), 0) "
     "FROM appointments.slot_counters s WHERE s.branch_id = ANY($1)", ("branches",), True),
    ("notified events without exactly one delivery on each of the recipient's two channels",
     "SELECT count(*) FROM unnest($1::text[]) AS e(id) WHERE (SELECT count(*) FROM notifier.deliveries d "
     "WHERE d.event_id = e.id) <> 2", ("notified",), True),
)


def _outbox_checks(schema: str) -> tuple[RowCheck, ...]:
    """An outbox row queued twice: the same event id twice, or two answers queued for one command."""
    value = "convert_from(value, 'UTF8')::jsonb"
    return (
        (f"{schema} outbox rows queued twice (same event id)",
         f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {schema}.outbox "
         f"GROUP BY {value} ->> 'id') t WHERE n > 1", (), True),
        (f"{schema} outbox answers per command beyond one",
         f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {schema}.outbox "
         f"WHERE {value} #>> '{{data,command_id}}' = ANY($1) GROUP BY {value} #>> '{{data,command_id}}') t "
         "WHERE n > 1", ("commands",), True),
    )


async def _count_rows(work: Workload, tally: Tally, db: Database, report: Report) -> None:
    """The services' own tables: one row per effect, whichever copy did it and however often a record came."""
    booked = {cid for cid, events in tally.answers.items() for e in events if tally.answer_types[e] == "SlotBooked"}
    ids = {"accepted": list(tally.requests.values()), "commands": list(tally.commands),
           "requests": list(tally.requests), "booked": sorted(booked),
           "co_borrowed": sorted(_expected_following(work, tally)["ConfirmationCallRequested"]),
           "branches": [p.branch_id for p in work.plans], "notified": tally.notified()}
    async with db.connection() as conn:
        for what, query, names, duplicate in _ROW_CHECKS + tuple(c for s in WORKERS for c in _outbox_checks(s)):
            report.flag(what, int(await conn.fetchval(query, *(ids[n] for n in names))), duplicate=duplicate)
        over = await conn.fetchval(
            "SELECT count(*) FROM appointments.day_counters d WHERE d.branch_id = ANY($1) AND d.booked > $2",
            ids["branches"], min(p.daily_cap for p in work.plans))
        report.flag("days booked over their cap", int(over), duplicate=True)
        deliveries = [r[0] for r in await conn.fetch(
            "SELECT notification_id FROM notifier.deliveries WHERE event_id = ANY($1)", ids["notified"])]
    sent = tally.following["NotificationSent"]
    report.flag("deliveries without their NotificationSent", sum(1 for n in deliveries if not sent.get(n)),
                duplicate=False)
    report.flag("NotificationSent twice (distinct event ids)",
                sum(len(sent[n]) - 1 for n in deliveries if len(sent.get(n, ())) > 1), duplicate=True)
    report.checks["deliveries"] = len(deliveries)
    report.checks.update({name: len(ids[name]) for name in ("accepted", "co_borrowed", "booked", "notified")})
