"""Settings of the notifier (env prefix NOTIFIER_, falling back to POSTLOAN_)."""

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.notifier.domain import QuietHours, RetryPolicy
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    http_port: int = Field(8004, description="Port of the notifier HTTP API.")
    webhook_urls: dict[str, str] = Field(
        default_factory=dict,
        description='Channels sent through an HTTP gateway, e.g. {"SMS": "https://gw/sms", "STAFF": "https://…"}; '
                    "the other channels use the local sender, which records deliveries in the database.",
    )
    webhook_auth_header: SecretStr | None = Field(None, description="Authorization header sent to the gateways.")
    webhook_timeout_s: float = Field(5.0, gt=0, description="Timeout of one gateway call.")
    max_attempts: int = Field(5, ge=1, description="Delivery attempts before NotificationFailed.")
    retry_base_s: float = Field(30.0, ge=0, description="First retry delay; doubled each attempt.")
    retry_cap_s: float = Field(3600.0, ge=0, description="Longest retry delay.")
    quiet_start: time = Field(time(22, 0), description="Start of the SMS quiet hours (bank time zone).")
    quiet_end: time = Field(time(8, 0), description="End of the SMS quiet hours.")
    quiet_timezone: str = Field("Asia/Shanghai", description="Time zone of the quiet hours, and of the reminders "
                                "of a booking whose branch time zone is not known.")
    worker_interval_s: float = Field(0.5, gt=0, description="How often pending and held deliveries are looked for.")

    def quiet_hours(self) -> QuietHours:
        return QuietHours(self.quiet_start, self.quiet_end, ZoneInfo(self.quiet_timezone))

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, timedelta(seconds=self.retry_base_s),
                           timedelta(seconds=self.retry_cap_s))
