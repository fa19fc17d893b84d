"""Every notifier template renders in every language with every variable it names."""

import re
import string
from datetime import date

import pytest

from services.notifier.domain import LANGUAGES, TEMPLATES, loan_tail, render

SAMPLE = {"loan_tail": "0001", "new_debit_day": 25, "new_due_date": date(2020, 3, 25), "reason": "…"}


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_each_template_renders_in_each_language(template: str, language: str) -> None:
    names = {f for _, f, _, _ in string.Formatter().parse(TEMPLATES[template][language]) if f}
    message = render(template, language, **{k: SAMPLE[k] for k in names})
    assert message.language == language
    assert "{" not in message.body and message.body


def test_every_template_exists_in_every_language() -> None:
    assert all(set(by_language) == set(LANGUAGES) for by_language in TEMPLATES.values())


def test_a_missing_variable_fails_loudly() -> None:
    with pytest.raises(KeyError):
        render("request_approved", "en", loan_tail="0001")


def test_dates_are_shown_in_iso_form_and_loans_masked() -> None:
    body = render("request_approved", "en", loan_tail=loan_tail("L-2020-0001"), new_debit_day=25,
                  new_due_date=date(2020, 3, 25)).body
    assert "2020-03-25" in body and "0001" in body and not re.search("L-2020", body)
