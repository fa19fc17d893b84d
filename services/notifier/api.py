"""HTTP API of the notifier: who can be reached and what was delivered, with contact details masked."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import AwareDatetime, BaseModel, TypeAdapter

from services.notifier.domain import mask_contact
from services.notifier.repository import DeliveryRepository, RecipientRepository
from shared.http import Cursor, Identifier, Limit, Page, decode_cursor, id_path, next_cursor
from shared.runtime import Deps, runtime_deps
from shared.unit_of_work import UnitOfWork

router = APIRouter(tags=["notifications"])
_READ = frozenset({"hotline", "supervisor", "auditor"})
ACCESS = {"get_recipient": _READ, "deliveries": _READ, "deliveries_of_event": _READ}  # endpoint -> roles (shared.auth)
DepsDep = Annotated[Deps, Depends(runtime_deps)]
CustomerId = Annotated[str, id_path("The customer's id.")]
BY_CREATION = TypeAdapter(tuple[AwareDatetime, Identifier])  # cursor of the delivery lists


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
async def get_recipient(customer_id: CustomerId, deps: DepsDep) -> RecipientView:
    async with deps.sessions() as session:
        recipient = await RecipientRepository(UnitOfWork(session)).get(customer_id)
    if recipient is None:
        raise HTTPException(404, f"customer {customer_id} is not known")
    return RecipientView(customer_id=recipient.customer_id, language=recipient.language,
                         channels=list(recipient.channels))


async def _page(deps: Deps, limit: int, cursor: str | None, **where: str) -> Page[DeliveryView]:
    """Deliveries oldest first, `limit` at a time."""
    after = decode_cursor(cursor, BY_CREATION)
    async with deps.sessions() as session:
        found = await DeliveryRepository(UnitOfWork(session)).of(**where, limit=limit + 1, after=after)
    views = [DeliveryView(**{k: getattr(d, k) for k in DeliveryView.model_fields if k != "contact"},
                          contact=mask_contact(d.contact)) for d in found[:limit]]
    return Page[DeliveryView](items=views,
                              next_cursor=next_cursor(found, limit, lambda d: (d.created_at, d.notification_id)))


@router.get("/customers/{customer_id}/deliveries",
            summary="Every notification for a customer, oldest first, by pages: did they get it?")
async def deliveries(customer_id: CustomerId, deps: DepsDep, limit: Limit = 100,
                     cursor: Cursor = None) -> Page[DeliveryView]:
    return await _page(deps, limit, cursor, customer_id=customer_id)


@router.get("/events/{event_id}/deliveries", summary="Every notification one event caused, oldest first, by pages")
async def deliveries_of_event(event_id: Annotated[str, id_path("The CloudEvent id.")], deps: DepsDep,
                              limit: Limit = 100, cursor: Cursor = None) -> Page[DeliveryView]:
    return await _page(deps, limit, cursor, event_id=event_id)
