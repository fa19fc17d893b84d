"""Settings: a service's own prefix wins over the shared POSTLOAN_ prefix, which wins over defaults."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.notifier.settings import Settings as NotifierSettings
from services.requests.settings import Settings as RequestsSettings

ROOT = Path(__file__).resolve().parents[3]


def test_the_shared_prefix_serves_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTLOAN_KAFKA_BOOTSTRAP", "kafka-1:9092")
    assert RequestsSettings().kafka_bootstrap == NotifierSettings().kafka_bootstrap == "kafka-1:9092"


def test_a_service_prefix_overrides_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTLOAN_KAFKA_BOOTSTRAP", "kafka-1:9092")
    monkeypatch.setenv("NOTIFIER_KAFKA_BOOTSTRAP", "kafka-2:9092")
    assert RequestsSettings().kafka_bootstrap == "kafka-1:9092"
    assert NotifierSettings().kafka_bootstrap == "kafka-2:9092"


def test_each_service_has_its_own_port_and_consumer_group() -> None:
    assert RequestsSettings().http_port != NotifierSettings().http_port
    assert RequestsSettings().consumer_group("requests") == "postloan.requests"


def test_the_database_password_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTLOAN_DATABASE_URL", "postgresql+asyncpg://u:s3cret@db/postloan")
    assert "s3cret" not in str(RequestsSettings().describe())


def test_a_moved_clock_is_refused_without_the_demo_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTLOAN_CLOCK_START", "2020-02-03T09:00:00+08:00")
    with pytest.raises(ValidationError, match="POSTLOAN_DEMO_MODE"):
        RequestsSettings()
    with pytest.raises(ValidationError, match="POSTLOAN_DEMO_MODE"):
        NotifierSettings(clock_start=None, clock_fixed="2020-02-03T09:00:00+08:00")
    monkeypatch.setenv("NOTIFIER_DEMO_MODE", "true")
    assert NotifierSettings().clock_start is not None  # the flag, here under the service's own prefix, allows it
    assert RequestsSettings(demo_mode=True).clock_args()["start"] is not None


def test_the_system_clock_needs_no_flag() -> None:
    assert RequestsSettings().clock_args() == {"fixed": None, "start": None}


@pytest.mark.parametrize("clock", ["POSTLOAN_CLOCK_FIXED", "APPOINTMENTS_CLOCK_START"])
def test_a_service_given_a_moved_clock_without_the_flag_exits_with_a_clear_message(clock: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_DEMO_MODE", "_CLOCK_START", "_CLOCK_FIXED"))}
    env |= {clock: "2020-02-03T09:00:00+08:00", "POSTLOAN_DATABASE_URL": "postgresql+asyncpg://u:s3cret@db/x"}
    done = subprocess.run([sys.executable, "-m", "services.appointments"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("postloan: refusing to start:") and "POSTLOAN_DEMO_MODE=true" in done.stderr
    assert "Traceback" not in done.stderr and "s3cret" not in done.stderr
