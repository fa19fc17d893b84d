"""Settings every service shares; each service subclasses with its own `env_prefix` (REQUESTS_, NOTIFIER_, …).

A value missing under the service's prefix is read from the same name under `POSTLOAN_`, so one
`POSTLOAN_KAFKA_BOOTSTRAP` serves all four services while `NOTIFIER_KAFKA_BOOTSTRAP` can still differ.
"""

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postloan@127.0.0.1:55432/postloan"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSTLOAN_", extra="ignore", frozen=True)

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    database_url: SecretStr = Field(
        SecretStr(DEFAULT_DATABASE_URL),
        description="SQLAlchemy URL (postgresql+asyncpg://…); one server with a schema per service by default.",
    )
    database_pool_size: int = Field(10, ge=1, description="Connections each copy of the service keeps open.")
    http_host: str = Field("127.0.0.1", description="Address the HTTP API (health, docs, queries) binds to.")
    http_port: int = Field(8000, description="Port of the HTTP API.")
    group_id: str = Field("", description="Kafka consumer group; empty means postloan.<service>.")
    clock_fixed: AwareDatetime | None = Field(None, description="Freeze 'now' at this instant (tests).")
    clock_start: AwareDatetime | None = Field(
        None, description="Run the clock from this instant at real speed (demos replaying 3 Feb 2020)."
    )
    log_level: str = Field("INFO", description="Root log level.")
    log_json: bool | None = Field(None, description="JSON logs; unset means JSON unless stderr is a terminal.")
    migrate_on_start: bool = Field(True, description="Apply this service's Alembic migrations at start-up.")
    consumer_max_records: int = Field(500, ge=1, description="Most records handled in one database transaction.")
    consumer_batch_timeout_ms: int = Field(50, ge=1, description="How long a poll waits for records.")
    relay_batch_size: int = Field(2000, ge=1, description="Outbox rows published per relay round.")
    relay_poll_interval_s: float = Field(1.0, gt=0, description="Relay poll when no NOTIFY wakes it.")
    timer_interval_s: float = Field(1.0, gt=0, description="How often due timers (expiry, retries) are looked for.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        common = EnvSettingsSource(settings_cls, env_prefix="POSTLOAN_")
        return init_settings, env_settings, common, dotenv_settings, file_secret_settings

    def consumer_group(self, service: str) -> str:
        return self.group_id or f"postloan.{service}"

    def clock_args(self) -> dict[str, datetime | None]:
        return {"fixed": self.clock_fixed, "start": self.clock_start}

    def describe(self) -> dict[str, Any]:
        """Settings safe to log: secrets stay masked by SecretStr."""
        return {k: (str(v) if v is not None else None) for k, v in self.model_dump().items()}
