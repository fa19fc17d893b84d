"""`postloan` command line: topics, demo data, a sample request followed through the platform, tailing topics.

The entry point (`main`) and the commands of this module; `cli.demo`, `cli.docs` and `cli.operations` add theirs
to the same app (cli/app.py) when imported below."""

import asyncio
import contextlib
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

import cli.demo
import cli.docs
import cli.login
import cli.operations
from cli.app import (
    DEMO,
    Bootstrap,
    app,
    console,
    describe,
    due_in_two_weeks,
    fail,
    platform_now,
    url_of,
    wait_until_known,
)
from cli.kafka_io import end_offsets, envelope, follow, publish
from cli.tokens import NotSignedIn
from shared import topics
from shared.contracts import loans as loan_contract
from shared.contracts import requests as req
from shared.kafka_admin import ensure_topics
from shared.kafka_security import local_access
from shared.principals import ADMIN

__all__ = ["app", "cli", "main"]  # importing cli.demo/docs/operations registers their commands


@app.command("topics")
def create_topics(bootstrap: Bootstrap = "127.0.0.1:9092", partitions: int = 6,
                  replication: Annotated[int | None, typer.Option(
                      help="Copies of each partition; default min(3, the brokers the cluster shows).")] = None) -> None:
    """Create the contract's topics and their dead-letter topics (idempotent)."""
    created = asyncio.run(ensure_topics(local_access(ADMIN, bootstrap), partitions=partitions, replication=replication))
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
        (topics.LOANS_SNAPSHOTS, envelope(s, topic=topics.LOANS_SNAPSHOTS, subject=s.loan_id,
                                           source="core-banking/demo")) for s in snapshots
    ]))
    console.print(f"published {sent} loan snapshots to {topics.LOANS_SNAPSHOTS}")


@app.command("try")
def try_request(
    bootstrap: Bootstrap = "127.0.0.1:9092",
    day: int = typer.Option(20, help="The new debit day asked for."),
    at: datetime | None = typer.Option(None, help="What the app writes as submitted_at (default: the platform's "
                                                  "own clock; the services decide on theirs either way)."),
    requests_url: str = typer.Option(url_of("requests"), help="The requests service."),
    notifier_url: str = typer.Option(url_of("notifier"), help="The notifier."),
    timeout: float = 30.0,
) -> None:
    """Publish a fresh demo loan, submit a debit-day change for it from the app, show every event that follows."""
    template = loan_contract.LoanSnapshot.model_validate(json.loads((DEMO / "loans.json").read_text())[0])
    suffix = uuid.uuid4().hex[:6].upper()
    customer = template.borrowers[0].model_copy(update={"customer_id": f"C-TRY-{suffix}"})
    watched = [topics.REQUESTS_EVENTS, topics.CONFIRMATION_EVENTS, topics.NOTIFICATIONS_EVENTS]

    async def run() -> int:
        now = await platform_now(requests_url)
        loan = due_in_two_weeks(template.model_copy(update={"loan_id": f"L-TRY-{suffix}", "borrowers": [customer]}),
                                now)
        cmd = req.SubmitDebitDayChange(command_id=f"cli-{suffix}", loan_id=loan.loan_id,
                                       applicant_customer_id=customer.customer_id, channel=req.Channel.APP,
                                       new_debit_day=day, submitted_at=at or now)
        event = envelope(cmd, topic=topics.REQUESTS_COMMANDS, subject=loan.loan_id, source="channels/app")
        snapshot = envelope(loan, topic=topics.LOANS_SNAPSHOTS, subject=loan.loan_id, source="core-banking/demo")
        await publish(bootstrap, [(topics.LOANS_SNAPSHOTS, snapshot)])
        console.print(f"[bold]→ {topics.LOANS_SNAPSHOTS}[/bold] LoanSnapshot loan={loan.loan_id} "
                      f"debit_day={loan.debit_day} next_due_date={loan.next_due_date}")
        await wait_until_known(f"{requests_url}/loans/{loan.loan_id}",
                               f"{notifier_url}/recipients/{customer.customer_id}", timeout=timeout)
        start = await end_offsets(bootstrap, watched)
        await publish(bootstrap, [(topics.REQUESTS_COMMANDS, event)])
        console.print(f"[bold]→ {topics.REQUESTS_COMMANDS}[/bold] SubmitDebitDayChange loan={loan.loan_id} day={day}")
        seen, outcomes_told = 0, 0
        try:
            async with asyncio.timeout(timeout):
                async for topic, msg in follow(bootstrap, start, watched):
                    if msg.get("correlationid") != event.id:
                        continue
                    seen += 1
                    console.print(f"[green]← {topic}[/green] {describe(msg)}")
                    # Done once the customer has been told the outcome on each of their channels.
                    if (msg.get("data") or {}).get("template") in ("request_approved", "request_rejected"):
                        outcomes_told += 1
                        if outcomes_told == len(customer.channels):
                            return seen
        except TimeoutError:
            console.print(f"[yellow]stopped waiting after {timeout:.0f} s[/yellow]")
        return seen

    try:
        if asyncio.run(run()) == 0:
            raise typer.Exit(1)
    except TimeoutError:
        fail(f"the services did not see the demo loan within {timeout:.0f} s; see .local/logs")
    except (OSError, KafkaError, httpx.HTTPError) as exc:
        fail(f"is the platform up (make up)? {exc!r}")


@app.command("tail")
def tail(
    topic: Annotated[list[str] | None, typer.Argument(help="Topics to follow (default: all event topics).")] = None,
    bootstrap: Bootstrap = "127.0.0.1:9092",
    from_beginning: bool = typer.Option(False, "--from-beginning"),
    loan: str | None = typer.Option(None, help="Only messages whose subject is this loan."),
    branch: str | None = typer.Option(None, help="Only messages whose subject is this branch."),
    type_: str | None = typer.Option(None, "--type", help="Only this CloudEvent type."),
) -> None:
    """Follow topics and print each CloudEvent on one readable line."""
    names = topic or [t for t in topics.ALL if t.endswith(".events")]
    unknown = [t for t in names if t not in topics.ALL_WITH_DLQ]
    if unknown:
        fail(f"unknown topic(s): {', '.join(unknown)}")

    async def run() -> None:
        async for name, msg in follow(bootstrap, None, names, from_beginning=from_beginning):
            subject = msg.get("subject")
            if (loan and subject != loan) or (branch and subject != branch) or (type_ and msg.get("type") != type_):
                continue
            console.print(f"[green]{name}[/green] {describe(msg)}")

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def main() -> None:
    try:
        app()
    except NotSignedIn as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise SystemExit(2) from None
    except (KafkaError, OSError, httpx.HTTPError) as exc:
        # Bad input or an unreachable platform: a clear message and a non-zero exit, never a traceback.
        console.print(f"[red]error:[/red] {exc!r} — is the platform up (make up)?")
        raise SystemExit(2) from None
