"""`postloan` command line: topics, demo data, a sample request followed through the platform, tailing topics."""

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from cli.kafka_io import end_offsets, envelope, follow, publish
from shared import topics
from shared.contracts import loans as loan_contract
from shared.contracts import requests as req
from shared.kafka_admin import ensure_topics

app = typer.Typer(help="Operate a local postloan platform.", no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
DEMO = Path(__file__).resolve().parent.parent / "deploy" / "demo"
Bootstrap = Annotated[str, typer.Option(envvar="POSTLOAN_KAFKA_BOOTSTRAP", help="Kafka bootstrap servers.")]


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


@app.command("topics")
def create_topics(bootstrap: Bootstrap = "127.0.0.1:9092", partitions: int = 6) -> None:
    """Create the contract's topics and their dead-letter topics (idempotent)."""
    created = asyncio.run(ensure_topics(bootstrap, partitions=partitions))
    console.print(f"topics: {len(created)} created, {len(topics.ALL_WITH_DLQ) - len(created)} already there")


@app.command("load-demo")
def load_demo(bootstrap: Bootstrap = "127.0.0.1:9092",
              file: Path = typer.Option(DEMO / "loans.json", help="JSON list of LoanSnapshot data.")) -> None:
    """Publish the demo loans as core banking would (loans.snapshots)."""
    try:
        items = json.loads(file.read_text())
        snapshots = [loan_contract.LoanSnapshot.model_validate(i) for i in items]
    except (OSError, ValueError, ValidationError) as exc:
        fail(f"{file}: {exc}")
    sent = asyncio.run(publish(bootstrap, [
        (topics.LOANS_SNAPSHOTS, envelope(s, subject=s.loan_id, source="core-banking/demo")) for s in snapshots
    ]))
    console.print(f"published {sent} loan snapshots to {topics.LOANS_SNAPSHOTS}")


@app.command("try")
def try_request(
    bootstrap: Bootstrap = "127.0.0.1:9092",
    loan: str = "L-DEMO-0001",
    customer: str = "C-DEMO-0001",
    day: int = typer.Option(20, help="The new debit day asked for."),
    at: datetime = typer.Option("2020-02-03T09:30:00+08:00", help="When the customer submits (the account's date)."),
    timeout: float = 30.0,
) -> None:
    """Submit a sample debit-day change from the app and show every event that follows from it."""
    cmd = req.SubmitDebitDayChange(command_id=f"cli-{datetime.now().timestamp():.0f}", loan_id=loan,
                                   applicant_customer_id=customer, channel=req.Channel.APP, new_debit_day=day,
                                   submitted_at=at)
    event = envelope(cmd, subject=loan, source="channel/app")
    watched = [topics.REQUESTS_EVENTS, topics.CONFIRMATION_EVENTS, topics.NOTIFICATIONS_EVENTS]

    async def run() -> int:
        start = await end_offsets(bootstrap, watched)
        await publish(bootstrap, [(topics.REQUESTS_COMMANDS, event)])
        console.print(f"[bold]→ {topics.REQUESTS_COMMANDS}[/bold] SubmitDebitDayChange loan={loan} day={day}")
        seen = 0
        try:
            async with asyncio.timeout(timeout):
                async for topic, msg in follow(bootstrap, start, watched):
                    if msg.get("correlationid") != event.id:
                        continue
                    seen += 1
                    console.print(f"[green]← {topic}[/green] {describe(msg)}")
                    if msg.get("type") in ("NotificationSent", "NotificationFailed"):
                        return seen
        except TimeoutError:
            console.print(f"[yellow]no notification within {timeout:.0f} s[/yellow]")
        return seen

    if asyncio.run(run()) == 0:
        raise typer.Exit(1)


@app.command("tail")
def tail(
    topic: Annotated[list[str] | None, typer.Argument(help="Topics to follow (default: all event topics).")] = None,
    bootstrap: Bootstrap = "127.0.0.1:9092",
    from_beginning: bool = typer.Option(False, "--from-beginning"),
    loan: str | None = typer.Option(None, help="Only messages whose subject is this loan."),
    type_: str | None = typer.Option(None, "--type", help="Only this CloudEvent type."),
) -> None:
    """Follow topics and print each CloudEvent on one readable line."""
    names = topic or [t for t in topics.ALL if t.endswith(".events")]
    unknown = [t for t in names if t not in topics.ALL_WITH_DLQ]
    if unknown:
        fail(f"unknown topic(s): {', '.join(unknown)}")

    async def run() -> None:
        async for name, msg in follow(bootstrap, None, names, from_beginning=from_beginning):
            if (loan and msg.get("subject") != loan) or (type_ and msg.get("type") != type_):
                continue
            console.print(f"[green]{name}[/green] {describe(msg)}")

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


def describe(msg: dict[str, Any]) -> str:
    data = msg.get("data") or {}
    keys = ("request_id", "reason_code", "new_debit_day", "new_due_date", "customer_id", "channel", "template",
            "command_type", "booking_code")
    facts = " ".join(f"{k}={data[k]}" for k in keys if k in data)
    return f"[bold]{msg.get('type')}[/bold] subject={msg.get('subject')} {facts}"


def main() -> None:
    app()
