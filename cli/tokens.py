"""The CLI's sign-in: the device authorization grant against realm `postloan` (client `postloan-cli`), the tokens
kept 0600 in $POSTLOAN_STATE_DIR/cli/token.json (folder 0700), refreshed when the access token runs out, and an
httpx auth that puts the access token on every call to a service."""

import json
import os
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import httpx

from shared.secret_files import state_dir

CLIENT = "postloan-cli"


def issuer() -> str:
    return os.environ.get("POSTLOAN_AUTH_ISSUER", "http://127.0.0.1:8180/realms/postloan").rstrip("/")


def token_file() -> Path:
    return state_dir() / "cli" / "token.json"


class NotSignedIn(Exception):
    pass


def _store(body: dict[str, Any]) -> None:
    path = token_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    now = time.time()
    record = {"issuer": issuer(), "access_token": body["access_token"], "refresh_token": body.get("refresh_token"),
              "expires_at": now + float(body.get("expires_in", 60)),
              "refresh_expires_at": now + float(body.get("refresh_expires_in", 0))}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(record, out)
    path.chmod(0o600)


def device_sign_in(tell: Callable[[str, str, int], None]) -> None:
    """Starts the device grant, `tell(verification_url, user_code, expires_in)`, and polls until the user has
    approved (or refused, or the code expired) in the browser; stores the tokens."""
    base = f"{issuer()}/protocol/openid-connect"
    start = httpx.post(f"{base}/auth/device", data={"client_id": CLIENT}, timeout=10).raise_for_status().json()
    tell(start.get("verification_uri_complete") or start["verification_uri"], start["user_code"],
         int(start["expires_in"]))
    interval, deadline = float(start.get("interval", 5)), time.monotonic() + float(start["expires_in"])
    while time.monotonic() < deadline:
        time.sleep(interval)
        answer = httpx.post(f"{base}/token", timeout=10, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": CLIENT,
            "device_code": start["device_code"]})
        if answer.status_code == 200:
            _store(answer.json())
            return
        error = answer.json().get("error")
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            raise NotSignedIn(f"sign-in refused: {error}")
    raise NotSignedIn("the sign-in code expired before it was used")


def access_token() -> str:
    """The stored access token, refreshed first when it is about to run out."""
    path = token_file()
    if not path.exists():
        raise NotSignedIn("not signed in: run `postloan login`")
    record = json.loads(path.read_text())
    if record.get("issuer") != issuer():
        raise NotSignedIn(f"signed in to {record.get('issuer')}, not {issuer()}: run `postloan login`")
    if record["expires_at"] - time.time() > 15:
        return str(record["access_token"])
    if not record.get("refresh_token") or record["refresh_expires_at"] <= time.time():
        raise NotSignedIn("the sign-in has expired: run `postloan login`")
    answer = httpx.post(f"{issuer()}/protocol/openid-connect/token", timeout=10, data={
        "grant_type": "refresh_token", "client_id": CLIENT, "refresh_token": record["refresh_token"]})
    if answer.status_code != 200:
        raise NotSignedIn("the sign-in could not be renewed: run `postloan login`")
    _store(answer.json())
    return str(answer.json()["access_token"])


def sign_out() -> bool:
    path = token_file()
    if path.exists():
        path.unlink()
        return True
    return False


class SignedIn(httpx.Auth):
    """Every call carries the signed-in user's access token."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {access_token()}"
        yield request
