"""What every page shares: who is signed in and may see it (one role table, like the services' ACCESS tables),
the form token on every POST, rendering in the reader's language, and the navigation by role."""

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.console.settings import Settings
from services.console.web import i18n, words
from services.console.web.apis import OwningServices
from services.console.web.auth import COOKIE, Realm, Sessions, SignInNeeded, Staff
from shared.runtime import ServiceRuntime

TEMPLATES = Path(__file__).parent / "templates"
Roles = Mapping[str, frozenset[str]]  # route name -> roles, any one of which will do

# The pages in the navigation, in order: route name and its title (a message id, translated when shown).
NAVIGATION: tuple[tuple[str, str], ...] = (
    ("agent_desk", words.N_("Agent desk")), ("paper_desk", words.N_("Paper desk")),
    ("hotline_desk", words.N_("Hotline desk")), ("branch_desk", words.N_("Branch desk")),
    ("supervisor_dashboard", words.N_("Supervisor dashboard")), ("policy_page", words.N_("Policy")),
)


class Forbidden(Exception):
    """Signed in, but none of the page's roles."""

    def __init__(self, staff: Staff, needs: frozenset[str]) -> None:
        self.staff, self.needs = staff, needs


class BadForm(Exception):
    """A POST without the session's form token (a forged cross-site form, or a stale page)."""


@dataclass
class Console:
    """The pages' share of the running service (app.state.console)."""

    settings: Settings
    runtime: ServiceRuntime
    realm: Realm
    apis: OwningServices
    roles: Roles
    environments: Mapping[str, Environment]

    @property
    def db(self) -> async_sessionmaker[AsyncSession]:
        assert self.runtime.deps is not None, "the service has not started"
        return self.runtime.deps.sessions

    @property
    def sessions(self) -> Sessions:
        return Sessions(self.db, self.realm, self.settings.session_hours)

    def now(self) -> datetime:
        return self.runtime.clock.now()


def console_of(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


async def signed_in(request: Request) -> Staff:
    """FastAPI dependency: the signed-in member of staff, or SignInNeeded (the browser is sent to sign in)."""
    return await console_of(request).sessions.staff(request.cookies.get(COOKIE))


async def page_staff(request: Request, staff: Annotated[Staff, Depends(signed_in)]) -> Staff:
    """FastAPI dependency on every page: signed in and holding one of the page's roles, or Forbidden."""
    route = request.scope.get("route")
    needs = console_of(request).roles.get(route.name, frozenset()) if isinstance(route, APIRoute) else frozenset()
    if not staff.roles & needs:
        raise Forbidden(staff, needs)
    return staff


async def check_form_token(request: Request, staff: Staff) -> None:
    """A POST's form must carry the session's token (no cross-site form can know it), or BadForm."""
    given = (await request.form()).get("csrf")
    if not isinstance(given, str) or not secrets.compare_digest(given, staff.csrf):
        raise BadForm


async def form_staff(request: Request, staff: Annotated[Staff, Depends(page_staff)]) -> Staff:
    """As `page_staff`, for a POST: the form carries the session's token."""
    await check_form_token(request, staff)
    return staff


PageStaff = Annotated[Staff, Depends(page_staff)]
FormStaff = Annotated[Staff, Depends(form_staff)]


def environments() -> dict[str, Environment]:
    """One template environment per language (its catalog installed), so rendering never switches languages
    under another request."""
    found = {}
    for language in i18n.LANGUAGES:
        env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                          extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
        env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
        env.filters.update(_filters(language))
        found[language] = env
    return found


def _filters(language: str) -> dict[str, Any]:
    where = i18n.locale(language)

    def when(value: datetime | str | None, tz: str = "Asia/Shanghai") -> str:
        if value is None or value == "":
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(moment, "yyyy-MM-dd HH:mm", tzinfo=ZoneInfo(tz), locale=where)

    def day(value: date | str | None) -> str:
        if value is None:
            return ""
        return format_date(date.fromisoformat(value) if isinstance(value, str) else value, "yyyy-MM-dd EEE",
                           locale=where)

    def money(value: Decimal | str | float | None) -> str:
        return "" if value is None else format_decimal(Decimal(str(value)), "#,##0.00", locale=where)

    return {"when": when, "day": day, "money": money, "mask": mask, "urlquote": lambda v: quote(str(v), safe="")}


def mask(identifier: str | None) -> str:
    """A loan or customer id as staff without need see it: all but its last four characters hidden."""
    if not identifier:
        return ""
    return "•" * min(len(identifier) - 4, 8) + identifier[-4:] if len(identifier) > 4 else "•" * len(identifier)


def render(request: Request, template: str, staff: Staff | None, *, status: int = 200, page: str | None = None,
           **context: Any) -> HTMLResponse:
    """`page`: the GET address of what this answer shows (`desk_page`), for an answer to a form; otherwise `here`."""
    console = console_of(request)
    language = i18n.language_of(request)
    pages = [(name, title) for name, title in NAVIGATION
             if staff is not None and staff.roles & console.roles.get(name, frozenset())]
    body = console.environments[language].get_template(template).render(
        request=request, staff=staff, language=language, html_lang=i18n.html_lang(language),
        languages=i18n.LANGUAGES, pages=pages, path=page or here(request), now=console.now(),
        outcome_words=words.OUTCOMES, state_words=words.STATES,
        reason_words=lambda refused: words.reason(refused.reason_code, refused.reason, language), **context)
    return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})


def here(request: Request) -> str:
    """Where to come back to after a language switch, and what live updates fetch again: a GET's own path and query;
    for a form's POST, which has no GET of its own (`/branch/plan`), the desk it belongs to (`/branch`), or home."""
    if request.method == "GET":
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{request.url.path}{query}"
    desk = "/" + request.url.path.strip("/").split("/", 1)[0]
    return desk if desk in {request.app.url_path_for(name) for name, _title in NAVIGATION} else "/"


def desk_page(path: str, **query: str) -> str:
    """A desk's GET address with its non-empty query values (`/branch?branch_id=BR-1`): an answer to a form stands
    for it."""
    given = {name: value for name, value in query.items() if value}
    return f"{path}?{urlencode(given)}" if given else path


def safe_next(target: str | None) -> str:
    """A local path to go back to after sign-in or a language switch; anything else (another site) is home."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 500:
        return "/"
    return target


__all__ = ["BadForm", "Console", "Forbidden", "FormStaff", "PageStaff", "SignInNeeded", "render", "safe_next"]
