"""Operator commands of `postloan` beyond the basics: send, load, policy, dead letters, the local stack, demo."""

import asyncio
import csv
import json
import subprocess
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError
from rich.progress import track
from rich.table import Table

from cli import status as service_status
from cli.app import Bootstrap, app, console, fail, url_of
from cli.kafka_io import envelope, publish, reader
from cli.tokens import SignedIn
from shared import principals, topics
from shared.contracts import TOPIC_TYPES, Contract
from shared.contracts import appointments as appt
from shared.contracts import loans as loan_contract
from shared.kafka_admin import partitions_of
from shared.kafka_security import local_access

ROOT = Path(__file__).resolve().parent.parent
TYPE_TOPIC = {m.type_name(): (topic, m) for topic, models in TOPIC_TYPES.items() for m in models
              if topic.endswith(".commands") or topic == topics.LOANS_SNAPSHOTS}
SUBJECT_FIELDS = ("loan_id", "branch_id")


def subject_of(data: Contract, given: str | None) -> str:
    subject = given or next((getattr(data, f) for f in SUBJECT_FIELDS if getattr(data, f, None)), None)
    if subject is None:
        fail(f"{data.type_name()} has no loan_id or branch_id: give --subject (the loan or branch it concerns)")
    return subject  # type: ignore[return-value]


@app.command("send")
def send(
    type_: Annotated[str, typer.Argument(metavar="TYPE", help=f"One of: {', '.join(sorted(TYPE_TOPIC))}")],
    data: str | None = typer.Option(None, "--data", help="The command's data as JSON."),
    file: Path | None = typer.Option(None, "--file", help="A JSON file with the command's data."),
    subject: str | None = typer.Option(None, help="Kafka key; default: the data's loan_id or branch_id."),
    bootstrap: Bootstrap = "127.0.0.1:9092",
) -> None:
    """Publish one contract command (or loan snapshot), validated before it is sent."""
    if type_ not in TYPE_TOPIC:
        fail(f"unknown type {type_!r}; known: {', '.join(sorted(TYPE_TOPIC))}")
    if (data is None) == (file is None):
        fail("give the data with exactly one of --data or --file")
    try:
        raw = json.loads(data if data is not None else file.read_text(encoding="utf-8"))  # type: ignore[union-attr]
        topic, model = TYPE_TOPIC[type_]
        if "command_id" in model.model_fields:
            raw.setdefault("command_id", f"cli-{uuid.uuid4().hex[:12]}")
        parsed = model.model_validate(raw)
    except (OSError, ValueError, ValidationError) as exc:
        fail(f"not a valid {type_}: {exc}")
    event = envelope(parsed, topic=topic, subject=subject_of(parsed, subject))
    asyncio.run(publish(bootstrap, [(topic, event)]))
    console.print(f"→ {topic} {type_} id={event.id} subject={event.subject}")


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    items = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(items, list):
        raise ValueError("a JSON file must hold a list")
    return items


def _loans_from_csv(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One CSV row per borrower; the loan's columns repeat on each of its rows."""
    loans: dict[str, dict[str, Any]] = {}
    borrower_cols = ("customer_id", "role", "name", "phone", "id_number", "language", "channels", "email")
    for row in rows:
        loan = loans.setdefault(row["loan_id"], {k: v for k, v in row.items() if k not in borrower_cols})
        borrower = {k: row.get(k) for k in borrower_cols if row.get(k)}
        borrower["channels"] = [c for c in (row.get("channels") or "").split(";") if c]
        loan.setdefault("borrowers", []).append(borrower)
    return list(loans.values())


def _branches_from_csv(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One CSV row per opening window: branch columns, then weekday, start, end, capacity_per_slot."""
    branches: dict[str, dict[str, Any]] = {}
    window_cols = ("weekday", "start", "end", "capacity_per_slot")
    for row in rows:
        branch = branches.setdefault(row["branch_id"], {k: v for k, v in row.items() if k not in window_cols})
        branch.setdefault("weekly", defaultdict(list))[row["weekday"]].append(
            {"start": row["start"], "end": row["end"], "capacity_per_slot": int(row["capacity_per_slot"])})
    return list(branches.values())


@app.command("load")
def load(
    kind: Annotated[str, typer.Argument(help="loans or branches")],
    file: Annotated[Path, typer.Argument(help="CSV or JSON file")],
    bootstrap: Bootstrap = "127.0.0.1:9092",
) -> None:
    """Publish loan snapshots (as core banking) or branch plans (as an operator), with a summary of refusals."""
    if kind not in ("loans", "branches"):
        fail("KIND must be 'loans' or 'branches'")
    try:
        rows = _rows(file)
        if file.suffix.lower() == ".csv":
            rows = _loans_from_csv(rows) if kind == "loans" else _branches_from_csv(rows)
    except (OSError, ValueError, KeyError) as exc:
        fail(f"{file}: {exc}")
    good, refused = [], []
    for n, item in enumerate(track(rows, description=f"validating {kind}", console=console), start=1):
        try:
            if kind == "loans":
                loan = loan_contract.LoanSnapshot.model_validate(item)
                good.append((topics.LOANS_SNAPSHOTS,
                             envelope(loan, topic=topics.LOANS_SNAPSHOTS, subject=loan.loan_id)))
            else:
                plan = appt.SetBranchPlan.model_validate({"command_id": f"load-{uuid.uuid4().hex[:12]}", **item})
                good.append((topics.APPOINTMENTS_COMMANDS,
                             envelope(plan, topic=topics.APPOINTMENTS_COMMANDS, subject=plan.branch_id)))
        except ValidationError as exc:
            refused.append((n, item.get("loan_id") or item.get("branch_id") or "?", exc.errors()[0]))
    if good:
        asyncio.run(publish(bootstrap, good))
    console.print(f"published {len(good)} {kind}; refused {len(refused)}")
    for n, key, error in refused:
        console.print(f"  item {n} ({key}): {'.'.join(str(p) for p in error['loc'])}: {error['msg']}")
    if refused:
        raise typer.Exit(1)


policy_app = typer.Typer(help="The policy in force at the requests service.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
RequestsUrl = Annotated[str, typer.Option("--requests-url", envvar="POSTLOAN_REQUESTS_URL")]


@policy_app.command("show")
def policy_show(requests_url: RequestsUrl = url_of("requests")) -> None:
    """Show the policy in force and the presets."""
    try:
        body = httpx.get(f"{requests_url}/policy", timeout=5, auth=SignedIn()).raise_for_status().json()
    except httpx.HTTPError as exc:
        fail(f"cannot read the policy from {requests_url}: {exc}")
    console.print(f"[bold]{body['version']}[/bold] (since {body['changed_at']}, by {body['changed_by']}); "
                  f"presets: {', '.join(body['presets'])}")
    console.print_json(json.dumps(body["document"]))


@policy_app.command("set")
def policy_set(name: str, requests_url: RequestsUrl = url_of("requests")) -> None:
    """Switch the policy in force to a preset, with no restart (recorded under the signed-in user: policy-admin)."""
    try:
        response = httpx.put(f"{requests_url}/policy", json={"preset": name}, timeout=5, auth=SignedIn())
    except httpx.HTTPError as exc:
        fail(f"cannot reach {requests_url}: {exc}")
    if response.status_code != 200:
        fail(response.json().get("detail", response.text))
    console.print(f"policy in force: [bold]{response.json()['version']}[/bold]")


dlq_app = typer.Typer(help="Dead letters: what could not be applied, and why.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


async def _dead_letters(bootstrap: str, names: list[str]) -> list[Any]:
    consumer = AIOKafkaConsumer(**reader(bootstrap, names).client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        parts = await partitions_of(consumer, names)
        if not parts:
            return []
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        records: list[Any] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(r for r in batch if r.offset < ends[TopicPartition(r.topic, r.partition)])
        return records
    finally:
        await consumer.stop()


def _dlq_names(topic: list[str] | None) -> list[str]:
    names = [topics.dlq(t) for t in (topic or topics.ALL)]
    unknown = [n for n in names if n not in topics.ALL_WITH_DLQ]
    if unknown:
        fail(f"unknown topic(s): {', '.join(unknown)}")
    return names


@dlq_app.command("list")
def dlq_list(topic: Annotated[list[str] | None, typer.Argument(help="Source topics (default: all).")] = None,
             bootstrap: Bootstrap = "127.0.0.1:9092") -> None:
    """Show every dead letter with its reason."""
    table = Table("kind", "reason", "from")
    table.add_column("dead letter (to replay)", no_wrap=True)
    for r in asyncio.run(_dead_letters(bootstrap, _dlq_names(topic))):
        h = {k: v.decode("utf-8", "replace") for k, v in r.headers}
        table.add_row(h.get("x-error-kind", "?"), h.get("x-error", "")[:80],
                      f"{h.get('x-original-topic')}:{h.get('x-original-partition')}:{h.get('x-original-offset')}",
                      f"{r.topic}:{r.partition}:{r.offset}")
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(letters: Annotated[list[str], typer.Argument(help="TOPIC.dlq:PARTITION:OFFSET as listed")],
               bootstrap: Bootstrap = "127.0.0.1:9092") -> None:
    """Send chosen dead letters back to their topic, unchanged, after a fix."""
    wanted = set(letters)
    names = sorted({w.rsplit(":", 2)[0] for w in wanted})
    records = [r for r in asyncio.run(_dead_letters(bootstrap, names))
               if f"{r.topic}:{r.partition}:{r.offset}" in wanted]
    missing = wanted - {f"{r.topic}:{r.partition}:{r.offset}" for r in records}
    if missing:
        fail(f"no such dead letter: {', '.join(sorted(missing))}")

    async def replay() -> None:
        # A dead letter goes back as its topic's writer (CONTRACT.md), keeping its own CloudEvent source.
        for r in records:
            original = dict(r.headers).get("x-original-topic", b"").decode()
            kept = [(k, v) for k, v in r.headers if not k.startswith("x-")]
            access = local_access(principals.writer_of(original).name, bootstrap)
            producer = AIOKafkaProducer(**access.client_kwargs(), acks="all", enable_idempotence=True)
            await producer.start()
            try:
                await producer.send_and_wait(original, r.value, key=r.key, headers=[
                    *kept, ("x-replayed-from", f"{r.topic}:{r.partition}:{r.offset}".encode())])
            finally:
                await producer.stop()

    asyncio.run(replay())
    console.print(f"replayed {len(records)} dead letter(s)")


def _deploy(*args: str) -> None:
    result = subprocess.run([str(ROOT / "deploy" / args[0]), *args[1:]], cwd=ROOT, check=False)
    if result.returncode not in (0, 3):
        raise typer.Exit(result.returncode)


@app.command("up")
def up() -> None:
    """Start Kafka, PostgreSQL and the four services in the background, with demo data."""
    _deploy("up.sh", "--detach")


@app.command("down")
def down() -> None:
    """Stop the services, Kafka, Keycloak and PostgreSQL."""
    _deploy("down.sh")


@app.command("status")
def status() -> None:
    """Health of each part of the local stack, then each service's lag, outbox, timers and dead letters from its
    /metrics (a stopped service's lag as the console measures it)."""
    for script in ("kafka.sh", "postgres.sh", "keycloak.sh", "services.sh", "prometheus.sh"):
        _deploy(script, "status")
    console.print(service_status.table(asyncio.run(service_status.collect())))
