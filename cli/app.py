"""The `postloan` Typer app and what its commands share: the console, options, the platform's clock, one-line
event descriptions. Command modules (main, demo, docs, operations) import from here, never from one another."""

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import httpx
import typer
from rich.console import Console

from cli.tokens import SignedIn
from services import SERVICES
from shared.contracts import loans as loan_contract

app = typer.Typer(help="Operate a local postloan platform.", no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
DEMO = Path(__file__).resolve().parent.parent / "deploy" / "demo"
BANK_TZ = ZoneInfo("Asia/Shanghai")
Bootstrap = Annotated[str, typer.Option(envvar="POSTLOAN_KAFKA_BOOTSTRAP", help="Kafka bootstrap servers.")]


def url_of(service: str) -> str:
    """A service's default local address (services/__init__.py SERVICES)."""
    return f"http://127.0.0.1:{SERVICES[service]}"


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


async def platform_now(service_url: str) -> datetime:
    """The service's own clock (its /health says it): `make up` replays the account's dates from 3 Feb 2020."""
    async with httpx.AsyncClient(timeout=5) as client:
        body = (await client.get(f"{service_url}/health")).json()
    return datetime.fromisoformat(body["now"])


def due_in_two_weeks(loan: loan_contract.LoanSnapshot, now: datetime) -> loan_contract.LoanSnapshot:
    """The demo loan as of `now`, its next instalment about two weeks ahead on a consistent debit day (1..28), so
    the demo works on the replayed 2020 clock and on real time alike."""
    due = (now.astimezone(BANK_TZ) + timedelta(days=14)).date()
    due = due.replace(day=min(due.day, 28))
    return loan.model_copy(update={"debit_day": due.day, "next_due_date": due, "as_of": now})


async def wait_until_known(*urls: str, timeout: float) -> None:
    """Waits until each service answers 200 for the new loan or customer (their projections caught up)."""
    async with httpx.AsyncClient(timeout=2, auth=SignedIn()) as client, asyncio.timeout(timeout):
        for url in urls:
            while (await client.get(url)).status_code != 200:
                await asyncio.sleep(0.1)


def describe(msg: dict[str, Any]) -> str:
    data = msg.get("data") or {}
    keys = ("request_id", "reason_code", "new_debit_day", "new_due_date", "customer_id", "channel", "template",
            "command_type", "booking_code")
    facts = " ".join(f"{k}={data[k]}" for k in keys if k in data)
    return f"[bold]{msg.get('type')}[/bold] subject={msg.get('subject')} {facts}"
