"""`postloan demo`: SPEC §11 scenario 3 played against the running platform, with the events as they happen."""

import asyncio
import uuid
from typing import Any

import httpx

from cli.app import (
    Bootstrap,
    app,
    console,
    describe,
    due_in_two_weeks,
    fail,
    platform_now,
    url_of,
)
from cli.kafka_io import envelope, publish
from cli.tokens import SignedIn
from shared import topics
from shared.contracts import loans as loan_contract


async def _owed(client: httpx.AsyncClient, confirmation_url: str, branch_id: str) -> list[dict[str, Any]]:
    """The paper-owed report of one branch, every page of it (`GET /paper/owed` pages by `cursor`)."""
    items: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"branch_id": branch_id, "limit": 1000}
    while True:
        body = (await client.get(f"{confirmation_url}/paper/owed", params=params)).raise_for_status().json()
        items += body["items"]
        if body["next_cursor"] is None:
            return items
        params["cursor"] = body["next_cursor"]


@app.command("demo")
def demo(bootstrap: Bootstrap = "127.0.0.1:9092", confirmation_url: str = url_of("confirmation"),
         requests_url: str = url_of("requests"), timeout: float = 60.0) -> None:
    """Play SPEC §11 scenario 3: a co-borrower confirmed by a recorded call, paper owed, then received."""
    from cli.kafka_io import end_offsets, follow
    from shared.contracts import confirmation as conf
    from shared.contracts import requests as req

    suffix = uuid.uuid4().hex[:6].upper()
    borrower = {"role": "PRIMARY", "name": "Demo Primary", "phone": "+86-000-0000-0010", "id_number": "DEMO-P",
                "language": "zh-Hant", "channels": ["APP_PUSH"]}
    loan = loan_contract.LoanSnapshot.model_validate({
        "loan_id": f"L-DEMO3-{suffix}", "status": "ACTIVE", "product": "MORTGAGE", "branch_id": "SZ-SERVICE-CENTRE",
        "currency": "CNY", "instalment_amount": "7410.00", "outstanding_principal": "1260000.00", "debit_day": 25,
        "next_due_date": "2020-02-25", "as_of": "2020-02-03T08:00:00+08:00",
        "borrowers": [{**borrower, "customer_id": f"C-P-{suffix}"},
                      {**borrower, "customer_id": f"C-CO-{suffix}", "role": "CO_BORROWER", "name": "Demo Co",
                       "language": "en"}]})
    watched = [t for t in topics.ALL if t.endswith(".events")]

    async def play() -> None:
        at = await platform_now(requests_url)  # the services judge on their clock; the demo writes the same time
        dated = due_in_two_weeks(loan, at)
        command = req.SubmitDebitDayChange(command_id=f"demo-{suffix}", loan_id=loan.loan_id,
                                           applicant_customer_id=f"C-P-{suffix}", channel=req.Channel.APP,
                                           new_debit_day=28, submitted_at=at)
        start = await end_offsets(bootstrap, watched)
        await publish(bootstrap, [(topics.LOANS_SNAPSHOTS,
                                   envelope(dated, topic=topics.LOANS_SNAPSHOTS, subject=loan.loan_id))])
        console.print(f"[bold]core banking[/bold] → LoanSnapshot {loan.loan_id} (one co-borrower)")
        async with httpx.AsyncClient(timeout=5, auth=SignedIn()) as client, asyncio.timeout(timeout):
            while (await client.get(f"{requests_url}/loans/{loan.loan_id}")).status_code != 200:
                await asyncio.sleep(0.2)
            await publish(bootstrap, [(topics.REQUESTS_COMMANDS,
                                       envelope(command, topic=topics.REQUESTS_COMMANDS, subject=loan.loan_id))])
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
                        task = (await client.post(f"{confirmation_url}/tasks/next")).raise_for_status().json()
                    console.print(f"[bold]agent {task['held_by']}[/bold] (signed in) takes task {task['task_id']}, "
                                  "calls the co-borrower on a recorded line → CONFIRMED")
                    (await client.post(f"{confirmation_url}/tasks/{task['task_id']}/outcome", json={
                        "outcome": "CONFIRMED", "recording_id": f"REC-{suffix}"})).raise_for_status()
                if kind == "CoBorrowerConfirmed" and not paper_sent:
                    owed = await _owed(client, confirmation_url, loan.branch_id)
                    mine = [p for p in owed if p["request_id"] == request_id]
                    console.print(f"[bold]service centre[/bold] paper owed: {len(mine)} signature(s) "
                                  f"({', '.join(p['customer_id'] for p in mine)})")
                if kind == "RequestApproved" and not paper_sent:
                    paper_sent = True
                    await publish(bootstrap, [(topics.CONFIRMATION_COMMANDS, envelope(conf.RecordPaperSignature(
                        command_id=f"demo-paper-{suffix}", request_id=request_id, customer_id=f"C-CO-{suffix}",
                        received_at=at, received_by="S-DEMO", branch_id="SZ-SERVICE-CENTRE"),
                        topic=topics.CONFIRMATION_COMMANDS, subject=loan.loan_id))])
                    console.print("[bold]service centre[/bold] → RecordPaperSignature: the paper arrived")
                if kind == "PaperSignatureReceived":
                    owed = await _owed(client, confirmation_url, loan.branch_id)
                    left = [p for p in owed if p["request_id"] == request_id]
                    console.print(f"[bold]done[/bold]: paper still owed for this request: {len(left)}")
                    return

    try:
        asyncio.run(play())
    except TimeoutError:
        fail(f"the scenario did not finish within {timeout:.0f} s; is the platform up (make up)?")
    except (OSError, httpx.HTTPError) as exc:
        fail(f"is the platform up (make up)? {exc!r}")
