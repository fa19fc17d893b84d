"""Settings every service shares; each service subclasses with its own `env_prefix` (REQUESTS_, NOTIFIER_, …).

A value missing under the service's prefix is read from the same name under `POSTLOAN_`, so one
`POSTLOAN_KAFKA_BOOTSTRAP` serves all four services while `NOTIFIER_KAFKA_BOOTSTRAP` can still differ.
"""

import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import AwareDatetime, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shared.kafka_security import KafkaAccess, ca_file, password_file

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postloan@127.0.0.1:55432/postloan"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSTLOAN_", extra="ignore", frozen=True)

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated.")
    kafka_security_protocol: Literal["SASL_SSL", "PLAINTEXT"] = Field(
        "SASL_SSL", description="SASL_SSL (SCRAM-SHA-512 over TLS: the scripts' broker) or PLAINTEXT (an open broker)."
    )
    kafka_sasl_username: str = Field("", description="Kafka principal; empty means postloan-<service>.")
    kafka_sasl_password: SecretStr = Field(SecretStr(""), description="The principal's SCRAM password.")
    kafka_sasl_password_file: str = Field(
        "", description="File holding the password instead; with neither set, the scripts' "
        "$POSTLOAN_STATE_DIR/secrets/kafka/<principal>.password."
    )
    kafka_ca_file: str = Field("", description="PEM CA bundle the broker's certificate must chain to (empty: the "
                                              "scripts' $POSTLOAN_STATE_DIR/secrets/tls/ca.pem, if there).")
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
    demo_mode: bool = Field(
        False, description="Allows the clock override (clock_fixed, clock_start): demos and tests only. Without it a "
        "service given either refuses to start, so no production copy can be made to decide on a made-up 'now'."
    )
    log_level: str = Field("INFO", description="Root log level.")
    log_json: bool | None = Field(None, description="JSON logs; unset means JSON unless stderr is a terminal.")
    migrate_on_start: bool = Field(True, description="Apply this service's Alembic migrations at start-up.")
    consumer_max_records: int = Field(500, ge=1, description="Most records handled in one database transaction.")
    consumer_batch_timeout_ms: int = Field(50, ge=1, description="How long a poll waits for records.")
    relay_batch_size: int = Field(2000, ge=1, description="Outbox rows published per relay round.")
    relay_poll_interval_s: float = Field(1.0, gt=0, description="Relay poll when no NOTIFY wakes it.")
    relay_process: bool = Field(
        True, description="Run the outbox relay as a child process (its own core) rather than a task beside the "
        "consumer, taking its per-record work off the consumer's event loop (the requests benchmark: 15 % more "
        "requests a second, bench/README.md). The child reports its leadership and counts to the service's metrics."
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
    lag_interval_s: float = Field(
        5.0, gt=0, description="How often the consumer lag (postloan_consumer_lag) is measured from the broker."
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

    @model_validator(mode="after")
    def _clock_override_only_in_demo_mode(self) -> Self:
        if (self.clock_fixed is not None or self.clock_start is not None) and not self.demo_mode:
            raise ValueError("CLOCK_FIXED / CLOCK_START move the service's clock, which decides deadlines and windows; "
                             "they are for demos and tests only: set POSTLOAN_DEMO_MODE=true with them, or unset them")
        return self

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

    def kafka_access(self, service: str) -> KafkaAccess:
        """How this copy of `service` connects to Kafka (its own principal unless told otherwise)."""
        if self.kafka_security_protocol == "PLAINTEXT":
            return KafkaAccess(self.kafka_bootstrap)
        user = self.kafka_sasl_username or f"postloan-{service}"
        password = self.kafka_sasl_password.get_secret_value()
        if not password:
            secret = Path(self.kafka_sasl_password_file) if self.kafka_sasl_password_file else password_file(user)
            password = secret.read_text().strip()
        return KafkaAccess(self.kafka_bootstrap, "SASL_SSL", user, SecretStr(password),
                           self.kafka_ca_file or str(ca_file()))

    def clock_args(self) -> dict[str, datetime | None]:
        return {"fixed": self.clock_fixed, "start": self.clock_start}

    def describe(self) -> dict[str, Any]:
        """Settings safe to log: secrets stay masked by SecretStr."""
        return {k: (str(v) if v is not None else None) for k, v in self.model_dump().items()}


S = TypeVar("S", bound=ServiceSettings)


def settings_or_exit(cls: type[S]) -> S:
    """The service's settings from its environment, or a clear message on stderr and exit status 2 (a service's
    main). The message names each setting at fault, never the value given (it may be a password)."""
    try:
        return cls()
    except ValidationError as exc:
        faults = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        sys.stderr.write(f"postloan: refusing to start: {faults}\n")
        raise SystemExit(2) from None
