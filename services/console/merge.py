"""Order-tolerant upserts of the read models: one statement per event, whatever arrived before it.

Events of one request travel on three topics, so the console meets them in any order (an approval before its
submission, a receipt before the confirmation that owed it). A row is therefore merged, never overwritten: a
column the event does not know keeps its value, a state moves only forward (each state has a rank; the higher
rank wins, an equal one keeps the first), and a column may keep the earliest or the latest of two values.
"""

from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from sqlalchemy import Table, case, func
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.sql.elements import ColumnElement

Rule = Literal["known", "least", "greatest", "first"]
"""known: the event's value when it has one (the default); least/greatest: the smaller/larger of the two;
first: the stored value when there is one."""


def merge(table: Table, row: Mapping[str, Any], *, rules: Mapping[str, Rule] | None = None) -> Insert:
    """`INSERT row ... ON CONFLICT (primary key) DO UPDATE` merging as the module says. A table with `state` and
    `rank` columns moves its state only to a higher rank."""
    keys = [c.name for c in table.primary_key.columns]
    stmt = insert(table).values(dict(row))
    sets = {name: _merged(table, stmt, name, (rules or {}).get(name, "known"))
            for name in row if name not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=sets) if sets else stmt.on_conflict_do_nothing()


def _merged(table: Table, stmt: Insert, name: str, rule: Rule) -> ColumnElement[Any]:
    new, old = stmt.excluded[name], table.c[name]
    if name == "state":
        return case((stmt.excluded["rank"] > table.c["rank"], new), else_=old)
    if name == "rank":
        return func.greatest(new, old)
    if rule == "least":
        return func.least(new, old)  # NULLs are ignored by LEAST/GREATEST
    if rule == "greatest":
        return func.greatest(new, old)
    if rule == "first":
        return func.coalesce(old, new)
    return func.coalesce(new, old)


def newest(table: Table, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]], at: str,
           keys: Collection[str]) -> Insert:
    """`INSERT rows` (one, or several with the same columns and distinct keys), each replacing the stored row when
    its `at` is not older: a late, older event changes nothing."""
    values = [dict(rows)] if isinstance(rows, Mapping) else [dict(row) for row in rows]
    stmt = insert(table).values(values)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={name: stmt.excluded[name] for name in values[0] if name not in keys},
        where=func.coalesce(stmt.excluded[at] >= table.c[at], True))
