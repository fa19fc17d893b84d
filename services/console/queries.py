"""Placeholder until the read-model slice lands (replaced by its queries.py)."""

from datetime import date, datetime
from typing import Any


async def dashboard(db: Any, now: datetime) -> Any:
    return None


async def bookings_in_slots(db: Any, branch_id: str, slots: list[tuple[date, str]]) -> list[Any]:
    return []
