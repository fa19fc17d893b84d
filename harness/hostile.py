"""Hostile Kafka records, generated: what a stranger who can write a topic may send (hypothesis strategies).

Each record carries a unique key (its marker), so its dead-letter copies can be found. Every record made here is
invalid data for the topic it is sent to; `hostile_headers` alone are not (headers are not part of the contract),
so they also go on valid commands, which must still be answered.
"""

import json
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from shared import topics

CONSUMED = (topics.LOANS_SNAPSHOTS, topics.REQUESTS_COMMANDS, topics.REQUESTS_EVENTS, topics.CONFIRMATION_COMMANDS,
            topics.CONFIRMATION_EVENTS, topics.APPOINTMENTS_COMMANDS, topics.APPOINTMENTS_EVENTS)
# A type each topic carries, and a valid `data` for it, which the strategies below then spoil.
_VALID: dict[str, tuple[str, dict[str, Any]]] = {
    topics.LOANS_SNAPSHOTS: ("LoanSnapshot", {
        "loan_id": "L-H", "status": "ACTIVE", "product": "MORTGAGE", "branch_id": "SZ", "currency": "CNY",
        "instalment_amount": "10.00", "outstanding_principal": "100.00", "debit_day": 10,
        "next_due_date": "2020-02-10", "as_of": "2020-02-03T09:00:00+08:00",
        "borrowers": [{"customer_id": "C-H", "role": "PRIMARY", "name": "n", "phone": "p", "id_number": "i",
                       "language": "en", "channels": ["SMS"]}]}),
    topics.REQUESTS_COMMANDS: ("SubmitDebitDayChange", {
        "command_id": "c", "loan_id": "L-H", "applicant_customer_id": "C-H", "channel": "APP", "new_debit_day": 20,
        "submitted_at": "2020-02-03T09:00:00+08:00"}),
    topics.REQUESTS_EVENTS: ("RequestWithdrawn", {"request_id": "R-H", "loan_id": "L-H",
                                                  "withdrawn_at": "2020-02-03T09:00:00+08:00"}),
    topics.CONFIRMATION_COMMANDS: ("RecordCallOutcome", {
        "command_id": "c", "task_id": "T-H", "agent_id": "A-H", "outcome": "NO_ANSWER",
        "called_at": "2020-02-03T09:00:00+08:00"}),
    topics.CONFIRMATION_EVENTS: ("CoBorrowerConfirmed", {
        "task_id": "T-H", "request_id": "R-H", "loan_id": "L-H", "customer_id": "C-H", "agent_id": "A-H",
        "recording_id": "REC", "confirmed_at": "2020-02-03T09:00:00+08:00"}),
    topics.APPOINTMENTS_COMMANDS: ("CheckIn", {"command_id": "c", "branch_id": "B-H", "booking_code": "ABCDE",
                                               "at": "2020-02-03T09:00:00+08:00"}),
    topics.APPOINTMENTS_EVENTS: ("NoShow", {"booking_id": "B-1", "customer_id": "C-H", "branch_id": "B-H",
                                            "date": "2020-02-10", "start_time": "09:00"}),
}
_ID_FIELDS = {"command_id", "loan_id", "task_id", "request_id", "booking_id", "customer_id", "branch_id"}


@dataclass(frozen=True)
class Hostile:
    topic: str
    key: str  # unique: the marker its dead-letter copies are found by
    value: bytes
    headers: tuple[tuple[str, bytes | None], ...]
    kind: str  # what is wrong with it, for the figures


def _envelope(type_: str, data: Any, **over: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "type": type_, "source": "stranger",
            "time": "2020-02-03T09:00:00+08:00", "subject": "X", "data": data, **over}


bad_text = st.one_of(
    st.text(min_size=0, max_size=8).map(lambda s: f"{s}\x00{s}"),  # NUL
    st.sampled_from(["\x01", "\x1b[2J", "\x7f", "a\x0bb"]).map(lambda c: f"id{c}"),  # control characters
    st.integers(129, 6000).map(lambda n: "x" * n),  # longer than any identifier may be
)
bad_int = st.one_of(st.integers(min_value=2**31), st.integers(max_value=-(2**31) - 1))
far_ahead = st.integers(2040, 2099).map(lambda y: f"{y}-06-01T00:00:00+08:00")


@st.composite
def hostile_value(draw: st.DrawFn, topic: str) -> tuple[bytes, str]:
    """A record value that is invalid on `topic`, and the name of what is wrong with it."""
    type_, valid = _VALID[topic]
    kind = draw(st.sampled_from(["not-json", "deep", "huge", "bad-id", "surrogate", "bad-field", "bad-int",
                                 "far-ahead", "unknown-type-large", "too-many-borrowers"]))
    if kind == "not-json":
        return draw(st.binary(min_size=0, max_size=64).filter(lambda b: not _is_json(b))), kind
    if kind == "deep":
        depth = draw(st.integers(2000, 10_000))
        return b"[" * depth + b"]" * depth, kind
    if kind == "huge":  # about 1 MB: under the broker's limit, far over the contract's 64 KiB
        return json.dumps(_envelope(type_, {**valid, "note": "x" * 1_000_000})).encode(), kind
    if kind == "bad-id":
        return json.dumps(_envelope(type_, valid, id=draw(bad_text))).encode(), kind
    if kind == "surrogate":  # an unpaired surrogate, as JSON may spell it; UTF-8 and PostgreSQL cannot hold it
        field = draw(st.sampled_from(sorted(_ID_FIELDS & set(valid)) or ["id"]))
        text = json.dumps(_envelope(type_, valid)).replace(f'"{field}": "', f'"{field}": "\\ud800', 1)
        return text.encode(), kind
    if kind == "bad-field":
        field = draw(st.sampled_from(sorted(_ID_FIELDS & set(valid))))
        return json.dumps(_envelope(type_, {**valid, field: draw(bad_text)})).encode(), kind
    if kind == "bad-int":
        # An integer beyond 32 bits, or, on a type without integers, a huge number where an id belongs.
        field = next((f for f in ("debit_day", "new_debit_day") if f in valid), sorted(_ID_FIELDS & set(valid))[0])
        return json.dumps(_envelope(type_, {**valid, field: draw(bad_int)})).encode(), kind
    if kind == "far-ahead":
        when = next((f for f in ("as_of", "called_at", "confirmed_at", "withdrawn_at") if f in valid), None)
        if when is None:  # a type with no "when it happened" time: a spoilt id instead
            field = sorted(_ID_FIELDS & set(valid))[0]
            return json.dumps(_envelope(type_, {**valid, field: draw(bad_text)})).encode(), "bad-field"
        return json.dumps(_envelope(type_, {**valid, when: draw(far_ahead)})).encode(), kind
    if kind == "unknown-type-large":  # ~600 KB with a type the topic does not carry
        return json.dumps(_envelope("LendMeMoney", {"pad": "y" * 600_000})).encode(), kind
    borrowers = valid.get("borrowers")
    if borrowers is None:
        return json.dumps(_envelope(type_, {k: v for k, v in valid.items() if k not in _ID_FIELDS})).encode(), \
            "missing-fields"
    many = [{**borrowers[0], "customer_id": f"C-{i}", "role": "CO_BORROWER"} for i in range(11)]
    return json.dumps(_envelope(type_, {**valid, "borrowers": borrowers + many})).encode(), kind


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


hostile_headers = st.lists(
    st.tuples(st.sampled_from(["h", "traceparent", "content-type", "x"]),
              st.one_of(st.none(), st.binary(min_size=1, max_size=16).map(lambda b: b"\xff\xfe" + b),
                        st.just(b"\x00nul"), st.integers(10_000, 20_000).map(lambda n: b"z" * n))),
    max_size=3,
).map(tuple)


@st.composite
def hostile_record(draw: st.DrawFn) -> Hostile:
    topic = draw(st.sampled_from(CONSUMED))
    value, kind = draw(hostile_value(topic))
    headers = draw(hostile_headers) if len(value) < 500_000 else ()  # a 1 MB value leaves no room for headers
    return Hostile(topic, f"H-{uuid.uuid4().hex}", value, headers, kind)
