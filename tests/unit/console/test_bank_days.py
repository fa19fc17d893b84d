"""The dashboard's days are the bank's (Asia/Shanghai), whatever the offset of the clock's reading."""

from datetime import UTC, date, datetime

from services.console.queries import BANK_TZ, bank_day, day_bounds


def test_a_utc_evening_is_the_next_bank_day() -> None:
    assert bank_day(datetime(2020, 2, 3, 17, 0, tzinfo=UTC)) == date(2020, 2, 4)
    assert bank_day(datetime(2020, 2, 3, 15, 59, tzinfo=UTC)) == date(2020, 2, 3)


def test_a_bank_day_runs_from_its_midnight_to_the_next() -> None:
    start, end = day_bounds(date(2020, 2, 3))
    assert start == datetime(2020, 2, 3, tzinfo=BANK_TZ) == datetime(2020, 2, 2, 16, 0, tzinfo=UTC)
    assert (end - start).total_seconds() == 86_400
