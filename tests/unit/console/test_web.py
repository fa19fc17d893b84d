"""The console's pages without a server: the role table, the words in three languages, and the small parsers that
a stranger's input reaches (windows typed by an operator, a `next` address, a loan id in a path)."""

import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from babel.messages.pofile import read_po
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from hypothesis import given
from hypothesis import strategies as st

from services.appointments.domain import RefusalCode as AppointmentsRefusal
from services.confirmation.domain import RefusalCode as ConfirmationRefusal
from services.console.web import branch, i18n, site, words
from services.console.web.apis import seg
from services.console.web.pages import NAVIGATION, desk_page, here, mask, safe_next
from services.requests.domain import RefusalCode as RequestsRefusal

ROOT = Path(__file__).resolve().parents[3]
WEB = ROOT / "services" / "console" / "web"


def test_every_page_has_roles_and_the_roles_table_names_no_missing_page() -> None:
    routes = {r.name for router in (site.router, *(d.router for d in site.DESKS)) for r in router.routes}
    assert routes - site.OPEN - set(site.ROLES) == set()
    assert set(site.ROLES) <= routes  # no stale entry either
    assert all(site.ROLES[name] for name, _title in NAVIGATION)


def test_a_page_missing_from_the_roles_table_stops_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(site.ROLES, "policy_page")
    with pytest.raises(RuntimeError, match="policy_page"):
        site._check_roles([site.router, *(d.router for d in site.DESKS)])


@pytest.mark.parametrize(("page", "role"), [("agent_desk", "agent"), ("paper_desk", "paper-clerk"),
                                            ("hotline_desk", "hotline"), ("branch_desk", "branch-operator"),
                                            ("supervisor_dashboard", "supervisor"), ("policy_page", "policy-admin")])
def test_each_desk_needs_its_own_role_only(page: str, role: str) -> None:
    assert site.ROLES[page] == frozenset({role})


def _extracted(tmp_path: Path) -> list[str]:
    out = tmp_path / "console.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(WEB / "babel.cfg"),
                    "-k", "N_", "--no-location", "-o", str(out), str(WEB)], check=True, capture_output=True)
    with out.open("rb") as pot:
        return [m.id for m in read_po(pot) if m.id]


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant"])
def test_every_word_of_every_page_is_translated(language: str, tmp_path: Path) -> None:
    with (WEB / "locales" / f"{language}.po").open("rb") as po:
        catalog = {m.id: m.string for m in read_po(po) if m.id}
    missing = [m for m in _extracted(tmp_path) if not catalog.get(m)]
    assert missing == [], f"untranslated in {language}.po: {missing}"


def test_the_two_chinese_catalogs_differ_where_the_scripts_do() -> None:
    hans, hant = i18n.translations("zh-Hans"), i18n.translations("zh-Hant")
    assert hans.gettext("Policy") == "业务政策" and hant.gettext("Policy") == "業務政策"
    assert i18n.translations("en").gettext("Policy") == "Policy"


def test_every_refusal_code_of_every_service_has_plain_words() -> None:
    codes = {c.value for enum in (RequestsRefusal, ConfirmationRefusal, AppointmentsRefusal) for c in enum}
    assert codes - set(words.REASONS) == set()
    assert words.reason("SLOT_FULL", "slot full", "zh-Hant") == "該時段已約滿。"
    assert words.reason("SOMETHING_NEW", "the service's words", "en") == "the service's words"


@pytest.mark.parametrize(("header", "language"), [("zh-TW,zh;q=0.8", "zh-Hant"), ("zh-HK", "zh-Hant"),
                                                  ("zh-CN", "zh-Hans"), ("en-GB,en;q=0.9", "en"), ("", "zh-Hans"),
                                                  ("fr-FR", "zh-Hans")])
def test_the_browser_language_picks_one_of_ours(header: str, language: str) -> None:
    assert i18n.browser_language(header) == language


@given(st.text(max_size=300))
def test_a_next_address_never_leaves_the_console(target: str) -> None:
    result = safe_next(target)
    assert result.startswith("/") and not result.startswith("//") and "\\" not in result


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_known_open_redirect_tricks_go_home(target: str) -> None:
    assert safe_next(target) == "/"


def test_an_answer_to_any_form_comes_back_to_a_page_that_takes_a_get() -> None:
    """The language switch and live updates of an answer to a form go to `here`: never to the form's own address,
    which only takes a POST (a GET of /branch/plan was answered 405)."""
    app = FastAPI()
    for router in (site.router, *(d.router for d in site.DESKS)):
        app.include_router(router)
    routes = [r for router in (site.router, *(d.router for d in site.DESKS)) for r in router.routes]
    gets = {r.path for r in routes if isinstance(r, APIRoute) and "GET" in r.methods}
    forms = [r.path for r in routes if isinstance(r, APIRoute) and "POST" in r.methods]
    assert len(forms) >= 10
    for path in forms:
        request = Request({"type": "http", "method": "POST", "path": path.replace("{task_id}", "T-1"),
                           "query_string": b"", "headers": [], "app": app})
        assert here(request) in gets - {"/live"}, path
    assert here(Request({"type": "http", "method": "GET", "path": "/branch", "query_string": b"branch_id=B%201",
                         "headers": [], "app": app})) == "/branch?branch_id=B%201"
    assert desk_page("/hotline", loan_id="L 1&x") == "/hotline?loan_id=L+1%26x" and desk_page("/branch") == "/branch"


@given(st.text(max_size=300))
def test_a_desk_page_carries_any_typed_id_back_unchanged_and_stays_on_the_console(typed: str) -> None:
    """A branch or loan id typed into a form (any text: controls, `&`, `#`, `//`, other scripts) goes into the
    answer's desk address as one query value: read back, it is the same text, and the address stays local."""
    page = desk_page("/branch", branch_id=typed)
    assert page.startswith("/branch") and "#" not in page and "&" not in page
    assert parse_qs(urlsplit(page).query).get("branch_id", [""]) == [typed]
    assert safe_next(page) in (page, "/")  # too long an address is refused as a whole, never cut into another


@given(st.text(max_size=200))
def test_a_loan_id_is_always_one_path_segment(value: str) -> None:
    segment = seg(value)
    assert not {"/", "?", "#"} & set(segment) and segment not in ("", ".", "..")


def test_windows_typed_by_an_operator_read_as_the_contract_s() -> None:
    assert branch.windows("09:00-12:00/4, 14:00-17:00/2") == [
        {"start": "09:00", "end": "12:00", "capacity_per_slot": 4},
        {"start": "14:00", "end": "17:00", "capacity_per_slot": 2}]
    assert branch.windows("") == [] and branch.windows("9:00-9:30/1，10:00-10:30/1")[0]["start"] == "09:00"
    assert branch.typed(branch.windows("09:00-12:00/4")) == "09:00-12:00/4"


@given(st.text(max_size=200))
def test_windows_either_read_or_are_refused_clearly(typed: str) -> None:
    try:
        found = branch.windows(typed)
    except branch.BadWindows:
        return
    assert all(set(w) == {"start", "end", "capacity_per_slot"} for w in found)


def test_masking_keeps_only_the_last_four() -> None:
    assert mask("LN-2020-0001") == "••••••••0001" and mask("ab") == "••" and mask(None) == ""
