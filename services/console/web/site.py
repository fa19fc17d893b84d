"""The console's HTTP face: sign-in and sign-out, the language switch, the home page, and every desk's routes,
each route in the one role table (a page missing from it stops the service at start, as a service's API does)."""

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuthError
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sse_starlette.sse import EventSourceResponse
from starlette.middleware.sessions import SessionMiddleware

from services.console.live import hub_of
from services.console.settings import Settings
from services.console.web import agent, branch, hotline, i18n, paper, policy, supervisor
from services.console.web.apis import OwningServices, Unavailable
from services.console.web.auth import COOKIE, Realm, Staff
from services.console.web.pages import (
    TEMPLATES,
    BadForm,
    Console,
    Forbidden,
    PageStaff,
    SignInNeeded,
    check_form_token,
    console_of,
    environments,
    here,
    render,
    safe_next,
    signed_in,
)
from shared.auth import STAFF_ROLES, Unauthenticated
from shared.logging import Logger
from shared.runtime import ServiceRuntime
from shared.secret_files import secret

log = Logger("postloan.console.web")
router = APIRouter(include_in_schema=False)
DESKS = (agent, paper, hotline, branch, supervisor, policy)
OPEN = frozenset({"sign_in", "auth_callback", "signed_out", "language"})  # reachable before signing in
ROLES = {"home": STAFF_ROLES, "sign_out": STAFF_ROLES, "live": STAFF_ROLES,
         **{name: roles for desk in DESKS for name, roles in desk.ROLES.items()}}


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, staff: PageStaff) -> HTMLResponse:
    return render(request, "home.html", staff)


@router.get("/live")
async def live(request: Request, staff: PageStaff) -> EventSourceResponse:
    """Server-sent events: `change` with each area that changed (a page showing it fetches itself again)."""
    subscription = hub_of(request.app).subscribe()

    async def stream() -> AsyncIterator[dict[str, str]]:
        with subscription as changes:
            yield {"event": "ready", "data": "all"}
            async for areas in changes:
                for area in areas:
                    yield {"event": "change", "data": str(area)}

    return EventSourceResponse(stream(), ping=15, headers={"cache-control": "no-store"})


@router.get("/login")
async def sign_in(request: Request, next: str = "/") -> Response:
    realm: Realm = console_of(request).realm
    request.session["next"] = safe_next(next)
    return await realm.client.authorize_redirect(request, realm.callback_url())  # type: ignore[no-any-return]


@router.get("/auth/callback")
async def auth_callback(request: Request) -> Response:
    console = console_of(request)
    try:
        token = await console.realm.client.authorize_access_token(
            request, claims_options={"iss": {"essential": True, "values": [console.realm.issuer]}})
        session_id = await console.sessions.open(token)
    except (OAuthError, Unauthenticated, KeyError) as exc:
        log.info("sign_in_failed", why=type(exc).__name__)
        return render(request, "signed_out.html", None, status=400, failed=True)
    response = RedirectResponse(safe_next(request.session.pop("next", "/")), status_code=303)
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="lax", secure=_secure(console.settings),
                        max_age=int(console.settings.session_hours * 3600), path="/")
    return response


@router.post("/logout")
async def sign_out(request: Request, staff: Annotated[Staff, Depends(signed_in)]) -> Response:
    await check_form_token(request, staff)
    console = console_of(request)
    id_token = await console.sessions.close(request.cookies.get(COOKIE))
    params = {"client_id": console.settings.oidc_client_id,
              "post_logout_redirect_uri": f"{console.settings.public_url.rstrip('/')}/signed-out"}
    if id_token:
        params["id_token_hint"] = id_token
    response = RedirectResponse(f"{console.realm.logout_url}?{urlencode(params)}", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/signed-out", response_class=HTMLResponse)
async def signed_out(request: Request) -> HTMLResponse:
    return render(request, "signed_out.html", None)


@router.get("/language/{code}")
async def language(request: Request, code: str, next: str = "/") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, code, max_age=365 * 86400, samesite="lax", path="/")
    return response


def _secure(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInNeeded)
    async def to_sign_in(request: Request, _exc: SignInNeeded) -> Response:
        # After signing in, back to the page (a POST's form is gone: back to the desk it belongs to).
        target = here(request)
        if request.url.path == "/live":  # an event stream cannot follow a redirect to a login form
            return Response(status_code=401)
        return RedirectResponse(f"/login?{urlencode({'next': safe_next(target)})}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> HTMLResponse:
        log.info("page_forbidden", user=exc.staff.username, path=request.url.path)
        return render(request, "forbidden.html", exc.staff, status=403, needs=sorted(exc.needs))

    @app.exception_handler(BadForm)
    async def bad_form(request: Request, _exc: BadForm) -> HTMLResponse:
        return render(request, "forbidden.html", None, status=403, stale_form=True)

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> HTMLResponse:
        return render(request, "unavailable.html", None, status=503, service=str(exc))


def _security_headers(app: FastAPI, settings: Settings) -> None:
    """No inline script, no framing, forms only to the console and the realm (sign-out), no sniffing."""
    realm = settings.auth_issuer.split("/realms/")[0]
    policy = (f"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
              f"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' {realm}")

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("content-security-policy", policy)
        response.headers.setdefault("x-content-type-options", "nosniff")
        response.headers.setdefault("referrer-policy", "same-origin")
        response.headers.setdefault("x-frame-options", "DENY")
        return response


def _check_roles(routers: list[APIRouter]) -> None:
    names = {r.name for router_ in routers for r in router_.routes if isinstance(r, APIRoute)}
    missing = sorted(names - OPEN - set(ROLES))
    if missing:
        raise RuntimeError(f"console: pages without roles in its table: {missing}")


def install(app: FastAPI, runtime: ServiceRuntime, settings: Settings) -> None:
    routers = [router, *(desk.router for desk in DESKS)]
    _check_roles(routers)
    # Holds only the sign-in's state, nonce and PKCE verifier for a few minutes (authlib's need), signed.
    app.add_middleware(SessionMiddleware, secret_key=secret(settings.session_key_path()),
                       session_cookie="postloan_console_signin", max_age=600, same_site="lax",
                       https_only=_secure(settings))
    _security_headers(app, settings)
    app.mount("/static", StaticFiles(directory=str(TEMPLATES.parent / "static")), name="static")
    for router_ in routers:
        app.include_router(router_)
    _handlers(app)
    apis = OwningServices(settings)
    app.state.console = Console(settings=settings, runtime=runtime, realm=Realm(settings, runtime.token_validator),
                                apis=apis, roles=ROLES, environments=environments())
    previous = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[None]:
        async with previous(app_):
            try:
                yield
            finally:
                await apis.close()

    app.router.lifespan_context = lifespan
