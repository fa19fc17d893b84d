"""Runs last in the end-to-end session: the service processes signed in to PostgreSQL as their own roles, and no
database password reached their logs."""

from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from harness.infra import Infra
from shared import db_roles
from tests.support.services import Process


async def test_each_service_process_is_connected_as_its_own_role_and_no_password_is_logged(
    infra: Infra, platform: dict[str, Process]
) -> None:
    admin = await asyncpg.connect(infra.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        signed_in = {r["usename"] for r in await admin.fetch(
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()")}
    finally:
        await admin.close()
    assert {db_roles.role(name) for name in platform} <= signed_in, signed_in
    passwords = {make_url(infra.service_database_url(name)).password for name in platform}
    passwords.add(make_url(infra.database_url).password)
    assert None not in passwords
    for process in platform.values():
        text = Path(process.log).read_text(encoding="utf-8", errors="replace")
        assert text, f"{process.info.name} wrote no log"
        assert not [p for p in passwords if p and p in text], f"{process.info.name} logged a database password"
