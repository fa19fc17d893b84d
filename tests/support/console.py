"""A member of staff on the console's pages without a browser: signed in through the realm's real login form
(authorization code + PKCE, driven by httpx), then pages read as text and forms sent with the page's token."""

import contextlib
import html
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from tests.support.auth import identity

if TYPE_CHECKING:
    from tests.support.services import Process

# Each role's desk.
DESKS = {"agent": "/agent", "paper-clerk": "/paper", "hotline": "/hotline", "branch-operator": "/branch",
         "supervisor": "/supervisor", "policy-admin": "/policy"}

_FORM = re.compile(r'<form[^>]*action="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Page:
    status: int
    url: str
    html: str

    @property
    def text(self) -> str:
        """The words of the page, tags and runs of space removed."""
        return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", self.html))).strip()

    @property
    def csrf(self) -> str:
        found = _CSRF.search(self.html)
        assert found is not None, f"no form token on {self.url}"
        return found.group(1)

    def has(self, element_id: str) -> bool:
        return f'id="{element_id}"' in self.html


class StaffBrowser:
    """One person's cookies on the console (language English unless told otherwise)."""

    def __init__(self, base_url: str, language: str = "en") -> None:
        self.base_url = base_url
        self.client = httpx.AsyncClient(base_url=base_url, follow_redirects=True, timeout=30,
                                        event_hooks={"response": [self._keep_cookies]})
        self.client.cookies.set("postloan_lang", language)

    async def _keep_cookies(self, response: httpx.Response) -> None:
        # Keycloak marks its cookies Secure; a browser still sends them to 127.0.0.1 over http, httpx must be told.
        await response.aread()
        self.client.cookies.extract_cookies(response)
        for cookie in self.client.cookies.jar:
            cookie.secure = False

    async def sign_in(self, username: str, *roles: str) -> Page:
        user = identity().user(username, *roles)
        login = await self.client.get("/")
        form = _FORM.search(login.text)
        assert form is not None and 'name="username"' in login.text, f"not the realm's login form: {login.url}"
        action = str(login.url.join(html.unescape(form.group(1))))
        answer = await self.client.post(action, data={"username": user, "password": identity().password(user)})
        return _page(answer)

    async def get(self, path: str, **params: Any) -> Page:
        return _page(await self.client.get(path, params=params))

    async def post(self, path: str, data: dict[str, str], *, csrf: str | None) -> Page:
        return _page(await self.client.post(path, data={**data, **({"csrf": csrf} if csrf else {})}))

    async def submit(self, page_path: str, action: str, data: dict[str, str]) -> Page:
        """Opens the page, then sends one of its forms with the page's token (as a person clicking would)."""
        page = await self.get(page_path)
        return await self.post(action, data, csrf=page.csrf)

    async def close(self) -> None:
        await self.client.aclose()


def _page(response: httpx.Response) -> Page:
    return Page(response.status_code, str(response.url), response.text)


@contextlib.asynccontextmanager
async def signed_in(platform: "dict[str, Process]", *roles: str, language: str = "en") -> AsyncIterator[StaffBrowser]:
    """A new member of staff with `roles`, signed in on the running platform's console, on its home page."""
    browser = StaffBrowser(platform["console"].url, language)
    try:
        home = await browser.sign_in(f"t-console-{'-'.join(roles) or 'none'}-{uuid.uuid4().hex[:6]}", *roles)
        assert home.status == 200 and home.has("signed-in-user"), home.text[:300]
        yield browser
    finally:
        await browser.close()
