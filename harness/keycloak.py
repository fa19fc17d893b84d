"""The test run's identity provider: a real Keycloak started once per run by deploy/keycloak.sh, realm `postloan`
re-created from its file, and tokens for test users of any role through a test-only client.

The realm file's own clients allow no password grant (people sign in through a browser or a device); the run adds
`postloan-tests` (password grant, every service's audience) plus two clients made to be refused: one whose tokens
carry only the notifier's audience and one whose tokens live `SHORT_LIFESPAN_S` seconds.
"""

import contextlib
import os
import secrets
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from harness.infra import ROOT, _launcher, pg_secrets
from services import SERVICES
from shared.keycloak_admin import KeycloakAdmin, secret_file

TEST_KEYCLOAK_PORT = int(os.environ.get("POSTLOAN_TEST_KEYCLOAK_PORT", "18080"))
TEST_CLIENT, NOTIFIER_ONLY, SHORT_LIVED = "postloan-tests", "postloan-tests-notifier-only", "postloan-tests-short"
SHORT_LIFESPAN_S = 3


def _audiences(names: Iterable[str]) -> list[dict[str, Any]]:
    return [{"name": f"audience {n}", "protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper",
             "config": {"included.custom.audience": f"postloan-{n}", "access.token.claim": "true"}} for n in names]


def _test_client(client_id: str, audiences: Iterable[str], **attributes: str) -> dict[str, Any]:
    return {"clientId": client_id, "enabled": True, "publicClient": True, "directAccessGrantsEnabled": True,
            "standardFlowEnabled": False, "protocolMappers": _audiences(audiences), "attributes": attributes}


@dataclass
class Identity:
    url: str
    admin: KeycloakAdmin
    admin_password: str  # the master realm's bootstrap admin (a real token of another realm, for tests)
    _passwords: dict[str, str] = field(default_factory=dict)
    _tokens: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/postloan"

    def user(self, username: str, *roles: str) -> str:
        """A test user with exactly these roles (made on first use in the run)."""
        if username not in self._passwords:
            password = secrets.token_urlsafe(16)
            self.admin.ensure_user(username, roles, password)
            self._passwords[username] = password
        return username

    def password(self, username: str) -> str:
        return self._passwords[username]

    def token(self, username: str, client: str = TEST_CLIENT) -> str:
        """A fresh enough access token of the user (cached until 30 s before it expires)."""
        cached = self._tokens.get((username, client))
        if cached is not None and cached[1] - time.time() > 30:
            return cached[0]
        token = self.sign_in(username, client)
        self._tokens[(username, client)] = (token, float(jwt.decode(token, options={"verify_signature": False})["exp"]))
        return token

    def sign_in(self, username: str, client: str = TEST_CLIENT) -> str:
        """A new access token by the password grant of a test client."""
        response = httpx.post(f"{self.issuer}/protocol/openid-connect/token", timeout=30, data={
            "grant_type": "password", "client_id": client, "username": username,
            "password": self._passwords[username], "scope": "openid"})
        response.raise_for_status()
        return str(response.json()["access_token"])


@contextlib.contextmanager
def provide_identity(console_urls: Iterable[str] = ()) -> Iterator[Identity]:
    """Keycloak for the run (started, realm re-created, test clients added), stopped at the end; the staff
    console's sign-in may come back to `console_urls` (the run's consoles) instead of the realm file's."""
    state = ROOT / ".local" / "test"
    env = {"KEYCLOAK_PORT": str(TEST_KEYCLOAK_PORT), "KEYCLOAK_MGMT_PORT": str(TEST_KEYCLOAK_PORT + 10),
           "KEYCLOAK_DB": f"keycloak_test_{TEST_KEYCLOAK_PORT}", "POSTLOAN_STATE_DIR": str(state),
           "POSTLOAN_PYTHON": sys.executable, "KEYCLOAK_FRESH": "1",
           "PG_SECRETS_DIR": str(pg_secrets())}  # its state folder is the test run's, the database server is not
    _launcher("keycloak.sh", "stop", env=env)
    _launcher("keycloak.sh", "start", env=env)
    try:
        url = f"http://127.0.0.1:{TEST_KEYCLOAK_PORT}"
        admin_password = secret_file(state / "secrets" / "keycloak", "admin-password")
        admin = KeycloakAdmin(url, admin_password)
        admin.ensure_client(_test_client(TEST_CLIENT, SERVICES))
        admin.ensure_client(_test_client(NOTIFIER_ONLY, ["notifier"]))
        admin.ensure_client(_test_client(SHORT_LIVED, SERVICES, **{"access.token.lifespan": str(SHORT_LIFESPAN_S)}))
        if console_urls:
            admin.ensure_client({"clientId": "postloan-console", "redirectUris": [f"{u}/*" for u in console_urls]})
        yield Identity(url, admin, admin_password)
    finally:
        _launcher("keycloak.sh", "stop", env=env)

