"""The order-tolerant upsert's SQL: states move only to a higher rank, unknown columns keep their values."""

from datetime import UTC, date, datetime

from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ClauseElement

from services.console.deadletters import changed
from services.console.handlers import day_caps
from services.console.merge import merge, newest
from services.console.readmodel import BranchDayCap, PaperView, RequestView
from shared.contracts import appointments as A

AT = datetime(2020, 2, 3, 1, tzinfo=UTC)


def _sql(statement: ClauseElement) -> str:
    return " ".join(str(statement.compile(dialect=postgresql.dialect())).split())  # type: ignore[no-untyped-call]


def test_a_state_moves_only_to_a_higher_rank() -> None:
    sql = _sql(merge(RequestView, {"request_id": "R-1", "state": "APPROVED", "rank": 2}))
    assert "ON CONFLICT (request_id) DO UPDATE SET" in sql
    assert "state = CASE WHEN (excluded.rank > console.requests.rank) THEN excluded.state ELSE console.requests.state" \
        in sql
    assert "rank = greatest(excluded.rank, console.requests.rank)" in sql


def test_only_the_columns_an_event_knows_are_written_and_a_missing_value_keeps_the_stored_one() -> None:
    sql = _sql(merge(RequestView, {"request_id": "R-1", "state": "SUBMITTED", "rank": 1, "channel": "APP"}))
    assert "channel = coalesce(excluded.channel, console.requests.channel)" in sql
    assert "branch_id =" not in sql


def test_a_column_can_keep_the_earliest_or_the_first_value() -> None:
    sql = _sql(merge(PaperView, {"request_id": "R-1", "customer_id": "C-1", "owed_since": None, "reason": "X",
                                 "state": "OWED", "rank": 1}, rules={"owed_since": "least", "reason": "first"}))
    assert "ON CONFLICT (request_id, customer_id)" in sql
    assert "owed_since = least(excluded.owed_since, console.paper.owed_since)" in sql
    assert "reason = coalesce(console.paper.reason, excluded.reason)" in sql


def test_only_changed_dead_letter_counts_are_stored() -> None:
    assert changed({"a.dlq": 3, "b.dlq": 0, "c.dlq": 1}, {"a.dlq": 3, "c.dlq": 0}) == {"b.dlq": 0, "c.dlq": 1}


def test_several_rows_replace_theirs_only_when_not_older_in_one_statement() -> None:
    rows = [{"branch_id": "B", "date": day, "daily_cap": 5, "closed": False, "changed_at": AT}
            for day in (date(2020, 2, 3), date(2020, 2, 4))]
    sql = _sql(newest(BranchDayCap, rows, "changed_at", ["branch_id", "date"]))
    assert "ON CONFLICT (branch_id, date) DO UPDATE SET daily_cap = excluded.daily_cap" in sql
    assert "WHERE coalesce(excluded.changed_at >= console.branch_day_caps.changed_at, " in sql
    assert "%(date_m1)s" in sql  # both rows in the one INSERT


def test_a_plan_change_names_each_day_once_and_daily_caps_beats_the_older_overflow_report() -> None:
    monday, tuesday, wednesday = date(2020, 2, 10), date(2020, 2, 11), date(2020, 2, 12)
    older = A.BranchPlanChanged(branch_id="B", over_capacity=[], over_daily_cap=[
        A.OverDailyCap(date=monday, booked=3, daily_cap=2), A.OverDailyCap(date=tuesday, booked=1, daily_cap=0)])
    assert day_caps(older) == {monday: (2, False), tuesday: (0, True)}  # a record written before daily_caps
    newer = older.model_copy(update={"daily_caps": [A.DayCap(date=d, daily_cap=c, closed=c == 0)
                                                    for d, c in ((monday, 2), (tuesday, 0), (wednesday, 9))]})
    assert day_caps(newer) == {monday: (2, False), tuesday: (0, True), wednesday: (9, False)}
