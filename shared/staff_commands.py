"""Staff actions over HTTP: a contract command made from the signed-in user's request (the person is the token's,
never the body's) and applied by the service's own Kafka handler in one transaction, exactly as if it had come
from its commands topic: its events (or its `CommandRejected`) go out through the outbox, and the caller gets them
as the answer at once."""

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, Field, ValidationError

from shared import outbox, tracing
from shared.auth import Principal
from shared.contracts import Command, Contract
from shared.envelope import new_event
from shared.logging import Logger
from shared.messaging import MessageContext
from shared.runtime import Deps
from shared.unit_of_work import UniqueConflict, UnitOfWork

log = Logger("postloan.staff")

Handler = Callable[[MessageContext, Any], Awaitable[None]]


async def apply(deps: Deps, handler: Handler, command: Contract, *, subject: str) -> list[dict[str, Any]]:
    """Runs `handler` on `command` (its envelope's source names the HTTP edge of the service) and returns what it
    emitted, as {"type", "data"} in order."""
    service = deps.tables.schema
    for attempt in (1, 2):
        now = deps.clock.now()
        event = new_event(command, source=f"postloan/{service}/http", subject=subject, time=now,
                          event_id=command.command_id)  # type: ignore[attr-defined]
        try:
            with tracing.deciding(event.type):  # under the request's SERVER span: its events carry that trace
                async with deps.sessions.begin() as session:
                    uow = UnitOfWork(session)
                    ctx = MessageContext.of_message(uow, now, f"postloan/{service}", event, settings=deps.settings)
                    await handler(ctx, command)
                    await outbox.add(session, deps.tables.outbox, ctx.emitted)
                    await uow.flush()
        except UniqueConflict:
            # Another writer took a key between the handler's read and the flush (say, a request opened for the
            # same loan from Kafka): done again, the handler reads it and decides on it, as the consumer's redo does.
            if attempt == 2:
                raise
            continue
        break
    if deps.metrics is not None:
        deps.metrics.count_decided(ctx.decided)
    return [{"type": e["type"], "data": e["data"]} for e in (json.loads(r.value) for r in ctx.emitted)]


def refusal(answers: list[dict[str, Any]], kinds: tuple[str, ...] = ("CommandRejected",)) -> dict[str, Any] | None:
    """The refusal among the answers (`CommandRejected`, or e.g. `RequestRejected` for a submission), if any."""
    return next((a["data"] for a in answers if a["type"] in kinds), None)


class CommandAnswer(BaseModel):
    """What a staff command caused, as the service answered it at once."""

    command_id: str
    events: list[dict[str, Any]] = Field(description="What the command caused, in order ({type, data}).")


def command_id() -> str:
    """A staff action over HTTP is a new command each time (the person is signed in; nothing to replay)."""
    return f"http-{uuid.uuid4().hex}"


async def answer(deps: Deps, handler: Handler, subject: str, build: Callable[[], Command], *, by: Principal,
                 refusals: tuple[str, ...] = ("CommandRejected",)) -> CommandAnswer:
    """A staff command applied at once: 422 when the contract's own bounds refuse it (say, a time too far from the
    service's clock), 409 whose detail is the refusal (one of `refusals`) when the service refuses it. Who gave it
    is logged with it (staff user names, never a customer's data), whether or not its contract has a field for
    them."""
    try:
        command = build()
    except ValidationError as exc:
        raise HTTPException(422, exc.errors(include_url=False, include_context=False, include_input=False)) from None
    answers = await apply(deps, handler, command, subject=subject)
    refused = refusal(answers, refusals)
    log.info("staff_command", command_type=command.type_name(), command_id=command.command_id, by=by.username,
             refused=refused is not None)
    if refused is not None:
        raise HTTPException(409, refused)
    return CommandAnswer(command_id=command.command_id, events=answers)
