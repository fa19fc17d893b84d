"""deploy/postgres.sh on a server of the test's own (its own port, data and secrets folders): a new cluster asks for
a SCRAM password from its first start, and a cluster left on `trust` (every machine from before issue 13) is
converted on its next start."""

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from harness.infra import ROOT
from shared import db_roles


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Launcher:
    def __init__(self, state: Path, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.state = state
        self.secrets = state / "secrets" / "postgres"
        self.data = Path(self("data").strip())  # as root, where the "postgres" system user can reach it

    def __call__(self, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if k not in ("POSTLOAN_DATABASE_URL", "PG_SECRETS_DIR")}
        env.update(PG_PORT=str(self.port), POSTLOAN_STATE_DIR=str(self.state))
        done = subprocess.run([str(ROOT / "deploy" / "postgres.sh"), *args], env=env, capture_output=True, text=True,
                              check=False, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def hba(self) -> list[list[str]]:
        lines = self.data.joinpath("pg_hba.conf").read_text(encoding="utf-8").splitlines()
        return [line.split() for line in lines if line.strip() and not line.lstrip().startswith("#")]

    def as_owner(self, *command: str, stdin: str = "") -> None:
        """A command run as the data folder's owner (the "postgres" user when the launcher runs as root)."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        subprocess.run([*prefix, *command], input=stdin, text=True, check=True, capture_output=True)


def _remove(it: Launcher) -> None:
    it("stop")
    shutil.rmtree(it.data.parent, ignore_errors=True)  # the checkout's folder: data, log and socket


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    it = Launcher(tmp_path)
    try:
        yield it
    finally:
        _remove(it)


async def _refused(url: str) -> None:
    for secret in (None, "wrong-password"):
        bare = db_roles.with_login(url, "postloan", secret).replace("postgresql+asyncpg://", "postgresql://")
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(bare, passfile="/nonexistent/.pgpass")


async def _signs_in(url: str) -> str:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), passfile="/nonexistent/.pgpass")
    try:
        return str(await conn.fetchval("SELECT current_user"))
    finally:
        await conn.close()


async def test_a_new_cluster_asks_for_scram_and_a_trust_cluster_is_converted_on_its_next_start(
    launcher: Launcher,
) -> None:
    launcher("start")
    assert {line[-1] for line in launcher.hba()} == {"scram-sha-256"}
    modes = {p.name: p.stat().st_mode & 0o777 for p in [launcher.secrets, *launcher.secrets.iterdir()]}
    assert modes.pop("postgres") == 0o700 and set(modes.values()) == {0o600}, modes
    admin = launcher("admin-url").strip()
    await _refused(admin)
    assert await _signs_in(admin) == "postloan"
    assert await _signs_in(launcher("url", "notifier").strip()) == "postloan_notifier"

    # The cluster as every machine had it before: trust for everyone, and no password file in the state folder.
    launcher("stop")
    launcher.as_owner("tee", str(launcher.data / "pg_hba.conf"),
                      stdin="local all all trust\nhost all all 127.0.0.1/32 trust\n")
    (launcher.secrets / "postloan.password").unlink()
    launcher.as_owner(str(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]), "-D", str(launcher.data),
                      "-l", str(launcher.data / "trust.log"), "-w", "start")
    assert await _signs_in(db_roles.with_login(admin, "postloan", None)) == "postloan"  # anyone gets in: trust

    assert "converting the cluster" in launcher("start")
    assert {line[-1] for line in launcher.hba()} == {"scram-sha-256"}
    converted = launcher("admin-url").strip()
    assert converted != admin  # a new password, generated on this start
    await _refused(converted)
    assert await _signs_in(converted) == "postloan"
    assert await _signs_in(launcher("url", "requests").strip()) == "postloan_requests"


async def test_another_checkouts_stopped_cluster_on_the_same_port_is_not_started_in_its_place(
    launcher: Launcher, tmp_path: Path,
) -> None:
    """CI clones into a new folder on a machine where an earlier checkout's cluster (its passwords in that checkout)
    was left stopped on the default port: the new checkout gets a cluster of its own, opened by its own passwords."""
    launcher("start")
    launcher("stop")
    other = Launcher(tmp_path / "another-checkout", port=launcher.port)
    try:
        assert other.data != launcher.data
        other("start")
        assert await _signs_in(other("admin-url").strip()) == "postloan"
        assert other("admin-url") != launcher("admin-url")
    finally:
        _remove(other)


async def test_a_clone_made_again_at_the_same_path_gets_a_cluster_of_its_own(launcher: Launcher) -> None:
    """CI clones into the same folder every time: the earlier clone's cluster, stopped, with passwords that went
    with that clone's state folder, is not started for the new one."""
    launcher("start")
    before = launcher("admin-url")
    launcher("stop")
    earlier = launcher.data
    for made in launcher.state.iterdir():  # the clone is gone, its passwords with it (as root its cluster stays)
        shutil.rmtree(made)
    again = Launcher(launcher.state, port=launcher.port)
    try:
        again("start")
        assert await _signs_in(again("admin-url").strip()) == "postloan"
        assert again("admin-url") != before
    finally:
        _remove(again)
        shutil.rmtree(earlier.parent, ignore_errors=True)
