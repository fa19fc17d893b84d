"""Every notifier template renders in every language with every variable it names; rules of delivery timing."""

import string
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notifier.domain import (
    in_quiet_hours,
    loan_tail,
    mask_contact,
    money,
    quiet_hours_end,
    reason_text,
    reminder_at,
    render,
    retry_delay,
)
from services.notifier.templates import LANGUAGES, REASONS, TEMPLATES
from services.requests.domain import RefusalCode
from shared.contracts.appointments import BookingRejectReason

SZ = ZoneInfo("Asia/Shanghai")
SAMPLE = {"loan_tail": "0001", "new_debit_day": 25, "new_due_date": date(2020, 3, 25), "reason": "…",
          "amount": money("20000"), "requested_date": date(2020, 2, 7), "deadline": date(2020, 2, 25),
          "date": date(2020, 2, 10), "time": time(9, 30), "branch_name": "Centre", "branch_address": "Road 1",
          "code": "K7P3X", "ticket": "P001", "task_id": "T-1", "due_by": date(2020, 2, 25)}


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_each_template_renders_in_each_language(template: str, language: str) -> None:
    names = {f for _, f, _, _ in string.Formatter().parse(TEMPLATES[template][language]) if f}
    assert names <= set(SAMPLE), f"{template}/{language} names {names - set(SAMPLE)}"
    message = render(template, language, **{k: SAMPLE[k] for k in names})
    assert message.language == language and "{" not in message.body and message.body


def test_every_template_exists_in_every_language() -> None:
    assert all(set(by_language) == set(LANGUAGES) for by_language in TEMPLATES.values())


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_language_of_a_template_names_the_same_variables(template: str) -> None:
    names = {lang: {f for _, f, _, _ in string.Formatter().parse(TEMPLATES[template][lang]) if f} for lang in LANGUAGES}
    assert names["zh-Hant"] == names["zh-Hans"] == names["en"], names


@pytest.mark.parametrize("code", [c.value for c in RefusalCode] + [c.value for c in BookingRejectReason])
def test_every_refusal_reads_in_plain_words_in_every_language(code: str) -> None:
    assert set(REASONS[code]) == set(LANGUAGES)
    assert all(reason_text(code, lang, "fallback") != "fallback" for lang in LANGUAGES)


def test_a_missing_variable_fails_loudly() -> None:
    with pytest.raises(KeyError):
        render("request_approved", "en", loan_tail="0001")


def test_dates_times_money_and_loan_numbers_are_shown_as_customers_expect() -> None:
    body = render("request_approved", "en", loan_tail=loan_tail("L-2020-0001"), new_debit_day=25,
                  new_due_date=date(2020, 3, 25)).body
    assert "2020-03-25" in body and "0001" in body and "L-2020" not in body
    assert money("5230.15") == "CNY 5,230.15"
    assert render("booking_cancelled", "zh-Hans", date=date(2020, 2, 10), time=time(9, 30)).body.count("09:30") == 1
    assert mask_contact("13800138000") == "*******8000"


@pytest.mark.parametrize(("hour", "quiet"), [(21, False), (22, True), (3, True), (7, True), (8, False), (12, False)])
def test_quiet_hours_wrap_midnight(hour: int, quiet: bool) -> None:
    assert in_quiet_hours(datetime(2020, 2, 3, hour, tzinfo=SZ), time(22), time(8), SZ) is quiet


def test_a_held_sms_goes_out_when_the_quiet_hours_end() -> None:
    assert quiet_hours_end(datetime(2020, 2, 3, 23, tzinfo=SZ), time(8), SZ) == datetime(2020, 2, 4, 8, tzinfo=SZ)
    assert quiet_hours_end(datetime(2020, 2, 4, 3, tzinfo=SZ), time(8), SZ) == datetime(2020, 2, 4, 8, tzinfo=SZ)


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    base, cap = timedelta(seconds=30), timedelta(minutes=10)
    assert [retry_delay(n, base, cap).total_seconds() for n in (1, 2, 3, 4, 6)] == [30, 60, 120, 240, 600]


def test_the_reminder_is_the_morning_before() -> None:
    assert reminder_at(date(2020, 2, 10), SZ) == datetime(2020, 2, 9, 9, tzinfo=SZ)
