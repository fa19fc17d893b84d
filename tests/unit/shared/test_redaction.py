"""Redaction of personal data in log lines, property-style: generated phone and ID numbers in the formats people
write them are masked wherever they sit in a text; ids, dates, UUIDs and counts stay readable."""

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from shared.redaction import MASK, hide_sql_values, mask_text, redact

SEPARATORS = st.sampled_from(["", " ", "-", ".", " - ", "  "])
DIGIT = st.sampled_from("0123456789")


@st.composite
def grouped(draw: st.DrawFn, digits: str) -> str:
    """`digits` cut into groups of 1..6 with a separator between each, as a person might write them."""
    out, rest = [], digits
    while rest:
        size = draw(st.integers(1, 6))
        out.append(rest[:size])
        rest = rest[size:]
        if rest:
            out.append(draw(SEPARATORS))
    return "".join(out)


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["", "+86 ", "+86-", "(+86) ", "86 ", "+86"]))
    if draw(st.booleans()):  # a mobile number
        mobile = "1" + draw(st.sampled_from("3456789")) + "".join(draw(st.lists(DIGIT, min_size=9, max_size=9)))
        return prefix + draw(grouped(mobile))
    area = draw(st.sampled_from(["010", "021", "0755"]))
    local = draw(grouped("".join(draw(st.lists(DIGIT, min_size=7, max_size=8)))))
    return prefix + draw(st.sampled_from([f"({area}) {local}", f"{area}-{local}", f"{area} {local}"]))


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    birth = draw(st.dates(min_value=datetime(1930, 1, 1).date(), max_value=datetime(2010, 12, 31).date()))
    body = "".join(draw(st.lists(DIGIT, min_size=6, max_size=6))) + birth.strftime("%Y%m%d") + "".join(
        draw(st.lists(DIGIT, min_size=3, max_size=3)))
    check = draw(st.sampled_from([*"0123456789", "X", "x"]))
    return draw(grouped(body)) + check


AROUND = st.text(alphabet="abcdefghij klmn,:;/'\"!?电话号码身份证", max_size=12)


def digit_runs(text: str) -> list[str]:
    """Runs of digits once the separators people use are taken out."""
    return re.findall(r"\d+", re.sub(r"[\s\-.()+]", "", text))


@given(before=AROUND, number=st.one_of(phone_numbers(), id_numbers()), after=AROUND)
def test_phone_and_id_numbers_are_masked_in_any_format_and_place(before: str, number: str, after: str) -> None:
    masked = mask_text(f"{before}{number}{after}")
    assert not [run for run in digit_runs(masked) if len(run) >= 7], masked
    assert MASK in masked


@given(local=st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}", fullmatch=True),
       domain=st.from_regex(r"[a-z0-9-]{1,12}\.(cn|com|org|com\.cn)", fullmatch=True), before=AROUND, after=AROUND)
def test_email_addresses_are_masked_anywhere_in_a_text(local: str, domain: str, before: str, after: str) -> None:
    masked = mask_text(f"{before} {local}@{domain} {after}")
    assert "@" not in masked and f"{local}@" not in masked


@given(serial=st.integers(0, 999_999), prefix=st.sampled_from(["L", "C", "R", "B", "T", "BR"]),
       at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)),
       count=st.integers(0, 999_999), ident=st.uuids())
def test_ids_dates_uuids_and_counts_stay_readable(serial: int, prefix: str, at: datetime, count: int,
                                                  ident: uuid.UUID) -> None:
    shanghai = at.astimezone(timezone(timedelta(hours=8)))
    text = (f"loan {prefix}-{serial:04d} at {at.isoformat()} ({shanghai.isoformat()}), {count} records, "
            f"event {ident} booking B-{ident}, day {at.date().isoformat()}")
    assert mask_text(text) == text


def test_ids_made_of_hex_stay_readable_and_ids_of_only_digits_do_not() -> None:
    assert mask_text("loan L-3f0a9c2e1b, hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08") == (
        "loan L-3f0a9c2e1b, hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    assert mask_text("customer C-13800138000") == f"customer C-{MASK}"  # seven digits are seven digits


def test_a_run_of_digits_stops_before_a_date() -> None:
    assert mask_text("attempt 3 2020-02-03T09:00:00+08:00") == "attempt 3 2020-02-03T09:00:00+08:00"
    assert mask_text("broker 127.0.0.1:9092") == "broker 127.0.0.1:9092"


def test_people_are_masked_by_key_and_places_are_not() -> None:
    masked = redact({"name": "劉小姐", "customer_name": "x", "recipient-name": "y", "Full_Name": "z",
                     "borrowers": [{"phone_number": 1, "mobile": "m", "id_no": "i", "email_address": "e"}],
                     "branch_name": "Futian", "template": "request_received", "attempts": 1234567})
    assert masked == {"name": MASK, "customer_name": MASK, "recipient-name": MASK, "Full_Name": MASK,
                      "borrowers": [{"phone_number": MASK, "mobile": MASK, "id_no": MASK, "email_address": MASK}],
                      "branch_name": "Futian", "template": "request_received", "attempts": 1234567}


def test_sql_errors_keep_the_statement_and_kind_but_not_the_values() -> None:
    error = ("(sqlalchemy.dialects.postgresql.asyncpg.UniqueViolationError) duplicate key value violates unique "
             "constraint \"t_pkey\"\n[SQL: INSERT INTO t VALUES ($1)]\n[parameters: ('Liu Mei',)]\n"
             "DETAIL:  Key (name)=(Liu Mei) already exists.\n"
             "invalid input for query argument $2: 'Liu (Mei)' ('str' object cannot be interpreted as an integer)")
    hidden = hide_sql_values(error)
    assert "Liu" not in hidden and "Mei" not in hidden
    assert "UniqueViolationError" in hidden and "INSERT INTO t VALUES ($1)" in hidden and "t_pkey" in hidden
    assert "query argument $2: [value hidden] ('str' object cannot be interpreted as an integer)" in hidden
