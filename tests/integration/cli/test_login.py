"""`postloan login` against the run's real Keycloak: the device grant, approved by a user signing in on the realm's
own pages (as a browser would), leaves a token 0600 in the state folder that the CLI's calls to a service carry."""

import html
import re
import stat
import threading
from pathlib import Path

import httpx
import pytest

from cli import tokens
from harness.infra import Infra
from tests.support.auth import identity
from tests.support.services import http, running


def _browser(url: str, username: str, password: str) -> None:
    """Opens the verification URL and goes through the realm's forms: sign-in, then the device grant's consent.
    (Keycloak marks its cookies Secure; browsers send them to 127.0.0.1 over http, httpx must be told to.)"""
    def insecure(response: httpx.Response) -> None:
        response.read()
        client.cookies.extract_cookies(response)
        for cookie in client.cookies.jar:
            cookie.secure = False

    with httpx.Client(follow_redirects=True, timeout=10, event_hooks={"response": [insecure]}) as client:
        page = client.get(url)
        for _ in range(4):
            form = re.search(r'<form[^>]*action="([^"]+)"', page.text)
            if form is None:
                return
            action = str(page.url.join(html.unescape(form.group(1))))
            if 'name="username"' in page.text:
                page = client.post(action, data={"username": username, "password": password})
            elif 'name="accept"' in page.text:
                page = client.post(action, data={"accept": "Yes"})
            else:
                return


async def test_login_by_device_grant_stores_a_private_token_the_cli_calls_services_with(
    migrated: Infra, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTLOAN_STATE_DIR", str(tmp_path))
    username = identity().user("t-cli-admin", "policy-admin")
    password = identity().password(username)
    shown: list[str] = []

    def tell(url: str, code: str, _expires_in: int) -> None:
        shown.append(code)
        threading.Thread(target=_browser, args=(url, username, password), daemon=True).start()

    tokens.device_sign_in(tell)
    stored = tokens.token_file()
    assert shown and stored.parent == tmp_path / "cli"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600 and stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    async with running("requests", migrated) as service, http(service, auth=tokens.SignedIn()) as cli:
        policy = await cli.get("/policy")
    assert policy.status_code == 200  # the token is the user's, with the user's role
    tokens.sign_out()
    with pytest.raises(tokens.NotSignedIn):
        tokens.access_token()
