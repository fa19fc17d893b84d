"""The database roles' secrets and URLs (shared/db_roles.py), and docker-compose.yml set up as the native scripts."""

import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from services import SERVICES
from shared import db_roles

ROOT = Path(__file__).resolve().parents[3]


def test_a_password_is_generated_once_into_a_private_file_and_read_back_after(tmp_path: Path) -> None:
    folder = tmp_path / "secrets" / "postgres"
    first = db_roles.password(folder, "postloan_requests")
    assert re.fullmatch(r"[0-9a-f]{48}", first)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "postloan_requests.password").stat().st_mode) == 0o600
    assert db_roles.password(folder, "postloan_requests") == first
    assert db_roles.password(folder, "postloan_notifier") != first
    assert sorted(p.name for p in folder.iterdir()) == ["postloan_notifier.password", "postloan_requests.password"]


def test_service_and_admin_urls_carry_their_own_login_on_the_same_server(tmp_path: Path) -> None:
    server = "postgresql+asyncpg://postloan@db.example:5433/postloan"
    admin = db_roles.admin_url(server, tmp_path)
    url = db_roles.service_url(server, tmp_path, "requests")
    secret = (tmp_path / "postloan_requests.password").read_text().strip()
    assert url == f"postgresql+asyncpg://postloan_requests:{secret}@db.example:5433/postloan"
    assert admin.startswith("postgresql+asyncpg://postloan:") and admin.endswith("@db.example:5433/postloan")
    assert db_roles.with_login(url, "someone", None) == "postgresql+asyncpg://someone@db.example:5433/postloan"
    given = "postgresql+asyncpg://admin:given@db.example/postloan"
    assert db_roles.admin_url(given, tmp_path) == given  # a URL with its password is used as it is


@pytest.mark.parametrize("name", ["Requests", "x; DROP ROLE postloan", "a-b", ""])
def test_only_plain_names_become_roles_or_schemas(name: str) -> None:
    with pytest.raises(ValueError, match="not a plain PostgreSQL name"):
        db_roles._ident(name)


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_compose_postgres_asks_every_connection_for_a_scram_password_kept_out_of_the_file() -> None:
    compose = _compose()
    env = compose["services"]["postgres"]["environment"]
    assert env["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256" and env["POSTGRES_INITDB_ARGS"] == "--auth=scram-sha-256"
    assert "POSTGRES_PASSWORD" not in env and env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postloan.password"
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert not re.search(r"://[^/@\s]+:[^/@\s]+@", text), "no URL with a password in docker-compose.yml"
    assert all(s["file"].startswith(".local/secrets/postgres/") for s in compose["secrets"].values())


def test_compose_provisions_every_service_role_and_each_container_gets_only_its_own_password() -> None:
    services = _compose()["services"]
    assert services["db-roles"]["command"] == ["python", "-m", "shared.db_roles", "provision", *SERVICES]
    for name in SERVICES:
        spec = services[name]
        assert spec["command"][:5] == ["python", "-m", "shared.db_roles", "exec", name]
        assert [s["target"] for s in spec["secrets"]] == [f"{db_roles.role(name)}.password"]
        assert spec["depends_on"]["db-roles"] == {"condition": "service_completed_successfully"}
