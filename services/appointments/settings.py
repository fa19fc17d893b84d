"""Settings of the appointments service (env prefix APPOINTMENTS_, falling back to POSTLOAN_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="APPOINTMENTS_", extra="ignore", frozen=True)

    http_port: int = Field(8003, description="Port of the appointments HTTP API.")
