"""Signing tests in: the run's Keycloak (harness/keycloak.py) and an httpx auth that sends a user's bearer token."""

from collections.abc import Generator

import httpx

from harness.keycloak import TEST_CLIENT, Identity
from shared.auth import STAFF_ROLES

STAFF = "t-staff"  # a test user holding every staff role: what a test calling an endpoint signs in as by default
_run: list[Identity] = []


def use(identity: Identity) -> None:
    """The run's identity provider (set once by the session fixture in tests/conftest.py)."""
    _run[:] = [identity]


def identity() -> Identity:
    assert _run, "the integration session fixture starts Keycloak first"
    return _run[0]


class SignedIn(httpx.Auth):
    """Each request carries a current access token of the user (fetched again when near its expiry)."""

    def __init__(self, username: str, client: str = TEST_CLIENT) -> None:
        self.username, self.client = username, client

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {identity().token(self.username, self.client)}"
        yield request


def as_user(username: str, *roles: str) -> SignedIn:
    """Sign in as this test user, made with exactly these roles on first use."""
    return SignedIn(identity().user(username, *roles))


def staff() -> SignedIn:
    return as_user(STAFF, *sorted(STAFF_ROLES))


def agent(name: str) -> SignedIn:
    """A call-centre agent: tasks are held and outcomes recorded under this name."""
    return as_user(name, "agent")
