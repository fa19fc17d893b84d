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
    http_max_body_bytes: int = Field(
        65536, ge=1, description="Largest HTTP request body accepted; a larger one is refused with 413."
    )
    # Bearer tokens (shared/auth.py): every endpoint but /health, /ready and the API documents needs one.
    auth_issuer: str = Field("http://127.0.0.1:8180/realms/postloan",
                             description="Issuer of accepted tokens: the realm's URL (deploy/keycloak.sh issuer).")
    auth_jwks_url: str = Field(
        "", description="The realm's signing keys; empty means <issuer>/protocol/openid-connect/certs."
    )
    auth_audience: str = Field("", description="Audience a token must hold; empty means postloan-<service>.")
    auth_leeway_s: float = Field(10.0, ge=0, le=120, description="Clock skew allowed on a token's exp, nbf and iat.")
    auth_jwks_min_refetch_s: float = Field(
        30.0, ge=0, description="A token naming an unknown key fetches the JWKS again at most this often."
    )
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
    relay_process: bool = Field(
        False, description="Run the outbox relay as a child process (its own core) rather than a task beside the "
        "consumer, taking its per-record work off the consumer's event loop; measured no gain on a 2-core machine "
        "whose other core the broker and database already use (bench/README.md), so off by default."
    )
    timer_interval_s: float = Field(1.0, gt=0, description="How often due timers (expiry, retries) are looked for.")
    timer_max_attempts: int = Field(
        5, ge=1, description="Failed firings of one timer before it is parked (kept with its error, never fired again)."
    )
    timer_retry_base_s: float = Field(
        30.0, ge=0, description="Wait before a failed timer fires again; doubled each attempt, at most an hour."
    )
    ready_max_outbox_age_s: float = Field(
        60.0, gt=0, description="/ready answers 503 while the oldest unsent outbox row is older than this."
    )
    retention_interval_s: float = Field(3600.0, gt=0, description="How often old rows are pruned.")
    retention_outbox_sent_days: float = Field(
        7.0, gt=0, description="Outbox rows are deleted this long after they were sent (unsent rows never are)."
    )
    retention_inbox_days: float = Field(
        30.0, ge=7,
        description="Inbox entries (ids of applied messages) are deleted this long after they were applied; must "
                    "exceed any redelivery window (the retention of the topics read, 7 days by default), or a "
                    "message read again would be applied twice.",
    )
    retention_delivery_body_days: float = Field(
        90.0, gt=0, description="Notifier: message bodies of delivered notifications are cleared this long after "
                                "delivery (the delivery log keeps the row).",
    )
    retention_chunk_rows: int = Field(
        5000, ge=1, description="Rows one pruning statement touches at most, so none holds locks for long."
    )

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
