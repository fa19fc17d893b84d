"""Settings of the confirmation service (env prefix CONFIRMATION_, falling back to POSTLOAN_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONFIRMATION_", extra="ignore", frozen=True)

    http_port: int = Field(8002, description="Port of the confirmation HTTP API.")
