"""Every form of the console filled in by a stranger, against the running platform: generated values (any text,
very long, markup, numbers out of any range, paths, nothing at all) in every field of every desk's form, sent
with a valid session and token. Each answer must be the desk's page (a refusal in plain words, or the service's
422 reasons), never a server error; what was typed never comes back as markup; and the console still serves
afterwards. What the services accepted and published meets the contract (tests/e2e/test_zz_contract.py reads
every record on the topics after this file), and nothing typed reaches a log in clear (test_zz_logs.py)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from services.console.web.branch import WEEKDAYS
from services.console.web.hotline import KINDS
from services.requests.policies import presets
from shared.http import MAX_ID, MAX_QUERY_VALUE
from tests.support.console import DESKS, Page, StaffBrowser, signed_in
from tests.support.services import Process

PROBE = 'id="stranger-probe"'  # markup a value carries; the page must show it as text, escaped
MARKUP = [f"<b {PROBE}>x</b>", f'"><b {PROBE}>', f"'><script {PROBE}>alert(1)</script>", "</textarea><b id=x>"]
ODD = ["", " ", "0", "-1", "29", "99999999999999999999", "1e309", "NaN", "-0", "2020-02-30", "24:00-25:00/0",
       "09:00-09:30/-5", "../../policy", "%2e%2e%2f", "/", "\\", "\x00", "\u202e", "' OR 1=1 --", "x" * 2500,
       "𠀀" * 700]
VALUES = st.one_of(st.sampled_from(MARKUP + ODD),
                   st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300),
                   st.integers().map(str))

# Each desk's forms: who may send it, and the fields it reads (services/console/web/*.py).
FORMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "/agent/tasks/{task_id}/outcome": ("agent", ("outcome", "recording_id", "note")),
    "/agent/tasks/{task_id}/renew": ("agent", ()),
    "/branch/plan": ("branch-operator", ("branch_id", "name", "address", "timezone", "slot_minutes", "daily_cap",
                                         "booking_window_days", *(f"weekly_{day}" for day in WEEKDAYS))),
    "/branch/override": ("branch-operator", ("branch_id", "date", "closed", "windows", "daily_cap")),
    "/branch/check-in": ("branch-operator", ("branch_id", "booking_code")),
    "/hotline/debit-day-change": ("hotline", ("loan_id", *KINDS["debit-day-change"], "method", "recording_id")),
    "/hotline/early-repayment": ("hotline", ("loan_id", *KINDS["early-repayment"], "method", "recording_id")),
    "/paper/received": ("paper-clerk", ("request_id", "customer_id", "filter", "branch_id")),
    "/paper/remote-signing": ("paper-clerk", ("request_id", "customer_id", "filter", "signing_branch_id", "courier",
                                              "tracking_number")),
    "/policy": ("policy-admin", ("preset", "confirm")),
}


@dataclass
class Desk:
    route: str
    staff: StaffBrowser
    csrf: str


@pytest.fixture(params=sorted(FORMS))
async def desk(platform: dict[str, Process], request: pytest.FixtureRequest) -> AsyncIterator[Desk]:
    """Someone with the role a form needs, signed in, on the desk's page (its form token at hand)."""
    route: str = request.param
    role = FORMS[route][0]
    async with signed_in(platform, role) as staff:
        yield Desk(route, staff, (await staff.get(DESKS[role])).csrf)


@settings(max_examples=25, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), task_id=VALUES.filter(bool))
@example(data=None, task_id=MARKUP[1])  # every field the same markup
async def test_a_form_filled_in_by_a_stranger_is_answered_with_its_desk_and_nothing_typed_is_markup(
    desk: Desk, data: st.DataObject | None, task_id: str
) -> None:
    fields = FORMS[desk.route][1]
    form = dict.fromkeys(fields, MARKUP[1]) if data is None else data.draw(
        st.fixed_dictionaries({}, optional=dict.fromkeys(fields, VALUES)), label="form")
    if desk.route == "/policy" and form.get("preset") in presets():  # a real switch is no stranger's value
        form["preset"] += "-not"
    page = await desk.staff.post(desk.route.replace("{task_id}", quote(task_id, safe="")), form, csrf=desk.csrf)
    # A task id with a "/" in it is another address (not found there); one the HTTP guard refuses (a control
    # character, too long) is answered 400 in words: answers too, before any desk is reached.
    odd = "{task_id}" in desk.route and ("/" in task_id or not guard_passes(task_id, MAX_ID))
    answered(page, odd, (desk.route, form, task_id))


LOOKUPS = {"/branch": ("branch-operator", "branch_id"), "/hotline": ("hotline", "loan_id"),
           "/paper": ("paper-clerk", "branch_id")}


@dataclass
class Lookup:
    path: str
    parameter: str
    staff: StaffBrowser


@pytest.fixture(params=sorted(LOOKUPS))
async def lookup(platform: dict[str, Process], request: pytest.FixtureRequest) -> AsyncIterator[Lookup]:
    """Someone on a desk that looks up what they type in its address (a branch, a loan)."""
    path: str = request.param
    role, parameter = LOOKUPS[path]
    async with signed_in(platform, role) as staff:
        yield Lookup(path, parameter, staff)


@settings(max_examples=25, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(typed=VALUES)
@example(typed="\x1a")  # a control character: the service's guard answers 400, which was the console's 500
@example(typed=MARKUP[0])
async def test_a_desk_looking_up_what_a_stranger_typed_answers_with_its_page(lookup: Lookup, typed: str) -> None:
    page = await lookup.staff.get(lookup.path, **{lookup.parameter: typed})
    answered(page, not guard_passes(typed, MAX_QUERY_VALUE), (lookup.path, typed))


def guard_passes(value: str, limit: int) -> bool:
    """Whether the HTTP guard every service shares lets `value` through in an address (shared.http)."""
    return value.isprintable() and len(value) <= limit


def answered(page: Page, odd_address: bool, case: object) -> None:
    """The desk's page, still signed in (a refusal in plain words, the reasons of a 422, nothing found); or, for an
    address the guard refuses or that names nothing, its answer in words (400, 404); never a server error; and
    nothing typed comes back as markup."""
    if page.status != 200 and odd_address:
        assert page.status in (400, 404) and "<" not in page.html, (case, page.status, page.text[:300])
    else:
        assert page.status == 200 and page.has("signed-in-user"), (case, page.status, page.text[:300])
    markup = page.html.replace('<script src="/static/', "")
    assert PROBE not in markup and "<script" not in markup, case
