"""The one injected clock per service: system time, a fixed instant, or system time shifted to a start."""

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """Always the same instant (tests); `advance` moves it explicitly."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta


class ShiftedClock:
    """Real time, moved so that it read `start` when the process started (demos replaying 2020)."""

    def __init__(self, start: datetime, *, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = start - self._base.now()

    def now(self) -> datetime:
        return self._base.now() + self._offset


def clock_from(fixed: datetime | None, start: datetime | None) -> Clock:
    """The clock the settings ask for: fixed wins over shifted; neither means the system clock."""
    if fixed is not None:
        return FixedClock(fixed)
    if start is not None:
        return ShiftedClock(start)
    return SystemClock()
