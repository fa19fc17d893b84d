"""HTTP API of the notifier: who can be reached and what was delivered, with contact details masked."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel
from sqlalchemy import select

from services.notifier.repository import DeliveryRow, RecipientRepository
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
    channel: str
    template: str
    language: str
    status: str
    attempts: int
    sent_at: datetime | None


@router.get("/recipients/{customer_id}", summary="Language and channels of a customer (no contact details)")
async def get_recipient(customer_id: str, deps: DepsDep) -> RecipientView:
    async with deps.sessions() as session:
        recipient = await RecipientRepository(session).get(customer_id)
    if recipient is None:
        raise HTTPException(404, f"customer {customer_id} is not known")
    return RecipientView(customer_id=recipient.customer_id, language=recipient.language,
                         channels=list(recipient.channels))


@router.get("/customers/{customer_id}/deliveries", summary="Every notification delivered to a customer")
async def deliveries(customer_id: str, deps: DepsDep) -> list[DeliveryView]:
    query = (select(DeliveryRow).where(DeliveryRow.c.customer_id == customer_id)
             .order_by(DeliveryRow.c.created_at, DeliveryRow.c.notification_id))
    async with deps.sessions() as session:
        rows = (await session.execute(query)).all()
    return [DeliveryView(**{k: getattr(r, k) for k in DeliveryView.model_fields}) for r in rows]
