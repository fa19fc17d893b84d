"""Settings of the notifier (env prefix NOTIFIER_, falling back to POSTLOAN_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    http_port: int = Field(8004, description="Port of the notifier HTTP API.")
