"""Operator commands of `postloan` beyond the basics: send, load, policy, dead letters, the local stack, demo."""

import asyncio
import csv
import json
import subprocess
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError
from rich.progress import track
from rich.table import Table

from cli.kafka_io import envelope, publish
from cli.main import Bootstrap, app, console, describe, fail
from shared import topics
from shared.contracts import TOPIC_TYPES, Contract
from shared.contracts import appointments as appt
from shared.contracts import loans as loan_contract

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
        raw.setdefault("command_id", f"cli-{uuid.uuid4().hex[:12]}") if type_ != "LoanSnapshot" else None
        topic, model = TYPE_TOPIC[type_]
        parsed = model.model_validate(raw)
    except (OSError, ValueError, ValidationError) as exc:
        fail(f"not a valid {type_}: {exc}")
    event = envelope(parsed, subject=subject_of(parsed, subject))
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
                data: Contract = loan_contract.LoanSnapshot.model_validate(item)
                good.append((topics.LOANS_SNAPSHOTS, envelope(data, subject=data.loan_id, source="cli/load")))
            else:
                data = appt.SetBranchPlan.model_validate({"command_id": f"load-{uuid.uuid4().hex[:12]}", **item})
                good.append((topics.APPOINTMENTS_COMMANDS, envelope(data, subject=data.branch_id, source="cli/load")))
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
def policy_show(requests_url: RequestsUrl = "http://127.0.0.1:8001") -> None:
    """Show the policy in force and the presets."""
    try:
        body = httpx.get(f"{requests_url}/policy", timeout=5).raise_for_status().json()
    except httpx.HTTPError as exc:
        fail(f"cannot read the policy from {requests_url}: {exc}")
    console.print(f"[bold]{body['version']}[/bold] (since {body['changed_at']}, by {body['changed_by']}); "
                  f"presets: {', '.join(body['presets'])}")
    console.print_json(json.dumps(body["document"]))


@policy_app.command("set")
def policy_set(name: str, by: str = typer.Option(..., "--by", help="Who switches it (audit)."),
               requests_url: RequestsUrl = "http://127.0.0.1:8001") -> None:
    """Switch the policy in force to a preset, with no restart."""
    try:
        response = httpx.put(f"{requests_url}/policy", json={"preset": name, "changed_by": by}, timeout=5)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {requests_url}: {exc}")
    if response.status_code != 200:
        fail(response.json().get("detail", response.text))
    console.print(f"policy in force: [bold]{response.json()['version']}[/bold]")


dlq_app = typer.Typer(help="Dead letters: what could not be applied, and why.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


async def _dead_letters(bootstrap: str, names: list[str]) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001
        parts = [TopicPartition(t, p) for t in names for p in sorted(cluster.partitions_for_topic(t) or ())]
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
    records = [r for r in asyncio.run(_dead_letters(bootstrap, names)) if f"{r.topic}:{r.partition}:{r.offset}" in wanted]
    missing = wanted - {f"{r.topic}:{r.partition}:{r.offset}" for r in records}
    if missing:
        fail(f"no such dead letter: {', '.join(sorted(missing))}")

    async def replay() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for r in records:
                original = dict(r.headers).get("x-original-topic", b"").decode()
                kept = [(k, v) for k, v in r.headers if not k.startswith("x-")]
                await producer.send_and_wait(original, r.value, key=r.key, headers=kept + [("x-replayed-from",
                                             f"{r.topic}:{r.partition}:{r.offset}".encode())])
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
    """Stop the services, Kafka and PostgreSQL."""
    _deploy("down.sh")


@app.command("status")
def status() -> None:
    """Health of each part of the local stack."""
    for script in ("kafka.sh", "postgres.sh", "services.sh"):
        _deploy(script, "status")


@app.command("demo")
def demo(bootstrap: Bootstrap = "127.0.0.1:9092", confirmation_url: str = "http://127.0.0.1:8002",
         requests_url: str = "http://127.0.0.1:8001", timeout: float = 60.0) -> None:
    """Play SPEC §11 scenario 3: a co-borrower confirmed by a recorded call, paper owed, then received."""
    from cli.kafka_io import end_offsets, follow
    from shared.contracts import confirmation as conf
    from shared.contracts import requests as req

    suffix = uuid.uuid4().hex[:6].upper()
    at = datetime.fromisoformat("2020-02-03T09:30:00+08:00")
    borrower = {"role": "PRIMARY", "name": "Demo Primary", "phone": "+86-000-0000-0010", "id_number": "DEMO-P",
                "language": "zh-Hant", "channels": ["APP_PUSH"]}
    loan = loan_contract.LoanSnapshot.model_validate({
        "loan_id": f"L-DEMO3-{suffix}", "status": "ACTIVE", "product": "MORTGAGE", "branch_id": "SZ-SERVICE-CENTRE",
        "currency": "CNY", "instalment_amount": "7410.00", "outstanding_principal": "1260000.00", "debit_day": 10,
        "next_due_date": "2020-02-25", "as_of": "2020-02-03T08:00:00+08:00",
        "borrowers": [{**borrower, "customer_id": f"C-P-{suffix}"},
                      {**borrower, "customer_id": f"C-CO-{suffix}", "role": "CO_BORROWER", "name": "Demo Co",
                       "language": "en"}]})
    command = req.SubmitDebitDayChange(command_id=f"demo-{suffix}", loan_id=loan.loan_id,
                                       applicant_customer_id=f"C-P-{suffix}", channel=req.Channel.APP,
                                       new_debit_day=28, submitted_at=at)
    watched = [t for t in topics.ALL if t.endswith(".events")]

    async def play() -> None:
        start = await end_offsets(bootstrap, watched)
        await publish(bootstrap, [(topics.LOANS_SNAPSHOTS, envelope(loan, subject=loan.loan_id))])
        console.print(f"[bold]core banking[/bold] → LoanSnapshot {loan.loan_id} (one co-borrower)")
        async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(timeout):
            while (await client.get(f"{requests_url}/loans/{loan.loan_id}")).status_code != 200:
                await asyncio.sleep(0.2)
            await publish(bootstrap, [(topics.REQUESTS_COMMANDS, envelope(command, subject=loan.loan_id))])
            console.print("[bold]app[/bold] → SubmitDebitDayChange: primary borrower asks for day 28")
            request_id = paper_sent = None
            async for topic, msg in follow(bootstrap, start, watched):
                if msg.get("subject") not in (loan.loan_id, f"C-P-{suffix}", f"C-CO-{suffix}", "STAFF"):
                    continue
                console.print(f"[green]← {topic}[/green] {describe(msg)}")
                kind, data = msg.get("type"), msg.get("data") or {}
                if kind == "RequestSubmitted":
                    request_id = data["request_id"]
                if kind == "ConfirmationCallRequested" and data.get("attempt") == 1:
                    task = None
                    while task is None or task.get("task_id") != data["task_id"]:
                        task = (await client.post(f"{confirmation_url}/tasks/next", json={"agent_id": "A-DEMO"})).json()
                    console.print(f"[bold]agent A-DEMO[/bold] takes task {task['task_id']}, calls the co-borrower "
                                  "on a recorded line → CONFIRMED")
                    await publish(bootstrap, [(topics.CONFIRMATION_COMMANDS, envelope(conf.RecordCallOutcome(
                        command_id=f"demo-call-{suffix}", task_id=task["task_id"], agent_id="A-DEMO",
                        outcome=conf.CallOutcome.CONFIRMED, recording_id=f"REC-{suffix}", called_at=at),
                        subject=loan.loan_id))])
                if kind == "CoBorrowerConfirmed" and not paper_sent:
                    owed = (await client.get(f"{confirmation_url}/paper/owed")).json()
                    mine = [p for p in owed if p["request_id"] == request_id]
                    console.print(f"[bold]service centre[/bold] paper owed: {len(mine)} signature(s) "
                                  f"({', '.join(p['customer_id'] for p in mine)})")
                if kind == "RequestApproved" and not paper_sent:
                    paper_sent = True
                    await publish(bootstrap, [(topics.CONFIRMATION_COMMANDS, envelope(conf.RecordPaperSignature(
                        command_id=f"demo-paper-{suffix}", request_id=request_id, customer_id=f"C-CO-{suffix}",
                        received_at=at, received_by="S-DEMO", branch_id="SZ-SERVICE-CENTRE"), subject=loan.loan_id))])
                    console.print("[bold]service centre[/bold] → RecordPaperSignature: the paper arrived")
                if kind == "PaperSignatureReceived":
                    owed = (await client.get(f"{confirmation_url}/paper/owed")).json()
                    left = [p for p in owed if p["request_id"] == request_id]
                    console.print(f"[bold]done[/bold]: paper still owed for this request: {len(left)}")
                    return

    try:
        asyncio.run(play())
    except TimeoutError:
        fail(f"the scenario did not finish within {timeout:.0f} s; is the platform up (make up)?")
    except (OSError, httpx.HTTPError) as exc:
        fail(f"is the platform up (make up)? {exc!r}")
