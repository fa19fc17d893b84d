"""Keycloak's admin REST API, as far as postloan needs it: the realm from its file, generated secrets, users.

`python -m shared.keycloak_admin provision …` is what deploy/keycloak.sh runs after every start: it creates realm
`postloan` from deploy/keycloak/postloan-realm.json when missing (re-creates it with --fresh; otherwise adds what
the file has and the realm lacks), gives each demo user a password and each confidential client a secret,
generated once and kept 0600 in the secrets folder, and `show` prints the demo sign-ins. The test harness uses
the same calls to make its own users and clients.
"""

import argparse
import json
import sys
import time
from collections.abc import Generator, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from shared.secret_files import secret

REALM = "postloan"


def secret_file(folder: Path, name: str) -> str:
    """The secret kept in folder/name (0600), generated on first use."""
    return secret(folder / name)


class _AdminToken(httpx.Auth):
    """The bootstrap admin's access token (master realm, admin-cli), fetched again before it runs out (60 s)."""

    def __init__(self, base_url: str, password: str) -> None:
        self.url = f"{base_url}/realms/master/protocol/openid-connect/token"
        self.password = password
        self.token, self.expires_at = "", 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.expires_at - time.monotonic() < 10:
            body = httpx.post(self.url, timeout=30, data={"grant_type": "password", "client_id": "admin-cli",
                                                          "username": "admin", "password": self.password,
                                                          }).raise_for_status().json()
            self.token, self.expires_at = body["access_token"], time.monotonic() + float(body["expires_in"])
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class KeycloakAdmin:
    """An admin session on a Keycloak server (the master realm's bootstrap admin)."""

    def __init__(self, base_url: str, admin_password: str, realm: str = REALM) -> None:
        self.base_url = base_url.rstrip("/")
        self.realm = realm
        self.http = httpx.Client(base_url=f"{self.base_url}/admin/realms", timeout=30,
                                 auth=_AdminToken(self.base_url, admin_password))

    def _ok(self, response: httpx.Response) -> httpx.Response:
        if response.is_error:
            raise RuntimeError(f"keycloak admin: {response.request.method} {response.request.url.path} answered "
                               f"{response.status_code}: {response.text[:300]}")
        return response

    def realm_exists(self) -> bool:
        return self.http.get(f"/{self.realm}").status_code == 200

    def load_realm(self, document: Mapping[str, Any], *, fresh: bool) -> None:
        """Creates the realm from its document; an existing one is deleted first (fresh) or only gains what the
        document has and it lacks (roles, clients, users are never overwritten: operators may have changed them)."""
        if fresh and self.realm_exists():
            self._ok(self.http.delete(f"/{self.realm}"))
        if not self.realm_exists():
            self._ok(self.http.post("", json=document))
            return
        parts = {k: document[k] for k in ("roles", "clients", "users") if k in document}
        self._ok(self.http.post(f"/{self.realm}/partialImport", json={"ifResourceExists": "SKIP", **parts}))

    def user_id(self, username: str) -> str:
        found = self._ok(self.http.get(f"/{self.realm}/users", params={"username": username, "exact": "true"})).json()
        if not found:
            raise LookupError(f"no user {username!r} in realm {self.realm}")
        return str(found[0]["id"])

    def set_password(self, username: str, password: str) -> None:
        self._ok(self.http.put(f"/{self.realm}/users/{self.user_id(username)}/reset-password",
                               json={"type": "password", "value": password, "temporary": False}))

    def ensure_user(self, username: str, roles: Iterable[str], password: str) -> None:
        """A user with exactly these realm roles (besides the realm's defaults) and this password."""
        response = self.http.post(f"/{self.realm}/users", json={
            "username": username, "enabled": True, "emailVerified": True, "firstName": username, "lastName": "test",
            "email": f"{username}@postloan.invalid", "requiredActions": []})
        if response.status_code != 409:  # 409: the user exists (an earlier run); roles and password are reset
            self._ok(response)
        uid = self.user_id(username)
        self._ok(self.http.put(f"/{self.realm}/users/{uid}", json={"requiredActions": [], "enabled": True}))
        mapped = self._ok(self.http.get(f"/{self.realm}/users/{uid}/role-mappings/realm")).json()
        wanted = [self._ok(self.http.get(f"/{self.realm}/roles/{r}")).json() for r in roles]
        extra = [r for r in mapped if r["name"] not in set(roles) and not r["name"].startswith("default-roles-")]
        if extra:
            self._ok(self.http.request("DELETE", f"/{self.realm}/users/{uid}/role-mappings/realm", json=extra))
        self._ok(self.http.post(f"/{self.realm}/users/{uid}/role-mappings/realm", json=wanted))
        self.set_password(username, password)

    def client(self, client_id: str) -> dict[str, Any] | None:
        found = self._ok(self.http.get(f"/{self.realm}/clients", params={"clientId": client_id})).json()
        return found[0] if found else None

    def ensure_client(self, document: Mapping[str, Any]) -> None:
        """Creates the client, or replaces the existing one's settings with the document's."""
        found = self.client(str(document["clientId"]))
        if found is None:
            self._ok(self.http.post(f"/{self.realm}/clients", json=document))
        else:
            self._ok(self.http.put(f"/{self.realm}/clients/{found['id']}", json={**found, **document}))

    def set_client_secret(self, client_id: str, secret: str) -> None:
        found = self.client(client_id)
        assert found is not None, f"client {client_id} is in the realm file"
        self._ok(self.http.put(f"/{self.realm}/clients/{found['id']}", json={**found, "secret": secret}))


def provision(admin: KeycloakAdmin, document: Mapping[str, Any], folder: Path, *, fresh: bool) -> None:
    admin.load_realm(document, fresh=fresh)
    for user in document.get("users", ()):
        admin.set_password(user["username"], secret_file(folder / "users", user["username"]))
    for client in document.get("clients", ()):
        if not client.get("publicClient", False):
            admin.set_client_secret(client["clientId"], secret_file(folder / "clients", client["clientId"]))


def sign_ins(document: Mapping[str, Any], folder: Path) -> list[tuple[str, str, str]]:
    """(username, roles, password) of each demo user of the realm file."""
    return [(u["username"], ",".join(u.get("realmRoles", ())), secret_file(folder / "users", u["username"]))
            for u in document.get("users", ())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.keycloak_admin")
    parser.add_argument("action", choices=["provision", "show"])
    parser.add_argument("--url", default="http://127.0.0.1:8180")
    parser.add_argument("--realm-file", type=Path, required=True)
    parser.add_argument("--secrets", type=Path, required=True, help="the folder of Keycloak's generated secrets")
    parser.add_argument("--fresh", action="store_true", help="delete and re-create the realm")
    args = parser.parse_args(argv)
    document = json.loads(args.realm_file.read_text())
    if args.action == "provision":
        admin = KeycloakAdmin(args.url, secret_file(args.secrets, "admin-password"))
        provision(admin, document, args.secrets, fresh=args.fresh)
        sys.stdout.write(f"keycloak: realm {REALM} provisioned (passwords and client secrets in {args.secrets})\n")
    else:
        for username, roles, password in sign_ins(document, args.secrets):
            sys.stdout.write(f"  {username:<18} {password}   ({roles})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
