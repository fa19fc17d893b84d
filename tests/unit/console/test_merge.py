"""The order-tolerant upsert's SQL: states move only to a higher rank, unknown columns keep their values."""

from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ClauseElement

from services.console.deadletters import changed
from services.console.merge import merge
from services.console.readmodel import PaperView, RequestView


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
