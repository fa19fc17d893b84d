"""HTTP API of the notifier: who can be reached and what was delivered, with contact details masked."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from services.notifier.domain import mask_contact
from services.notifier.repository import DeliveryRepository, RecipientRepository
from shared.runtime import Deps, runtime_deps

router = APIRouter(tags=["notifications"])
DepsDep = Annotated[Deps, Depends(runtime_deps)]


class RecipientView(BaseModel):
    customer_id: str
    language: str
    channels: list[str]


class DeliveryView(BaseModel):
    notification_id: str
    event_id: str
    customer_id: str
    channel: str
    template: str
    language: str
    status: str
    attempts: int
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    contact: str | None  # masked: the last four characters only


@router.get("/recipients/{customer_id}", summary="Language and channels of a customer (no contact details)")
async def get_recipient(customer_id: str, deps: DepsDep) -> RecipientView:
    async with deps.sessions() as session:
        recipient = await RecipientRepository(session).get(customer_id)
    if recipient is None:
        raise HTTPException(404, f"customer {customer_id} is not known")
    return RecipientView(customer_id=recipient.customer_id, language=recipient.language,
                         channels=list(recipient.channels))


def _views(rows: Any) -> list[DeliveryView]:
    return [DeliveryView(**{k: getattr(r, k) for k in DeliveryView.model_fields if k != "contact"},
                         contact=mask_contact(r.contact)) for r in rows]


@router.get("/customers/{customer_id}/deliveries", summary="Every notification for a customer: did they get it?")
async def deliveries(customer_id: str, deps: DepsDep) -> list[DeliveryView]:
    async with deps.sessions() as session:
        return _views(await DeliveryRepository(session).of(customer_id=customer_id))


@router.get("/events/{event_id}/deliveries", summary="Every notification one event caused")
async def deliveries_of_event(event_id: str, deps: DepsDep) -> list[DeliveryView]:
    async with deps.sessions() as session:
        return _views(await DeliveryRepository(session).of(event_id=event_id))
