"""Settings: a service's own prefix wins over the shared POSTLOAN_ prefix, which wins over defaults."""

import pytest

from services.notifier.settings import Settings as NotifierSettings
from services.requests.settings import Settings as RequestsSettings


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
