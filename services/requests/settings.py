"""Settings of the requests service (env prefix REQUESTS_, falling back to POSTLOAN_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REQUESTS_", extra="ignore", frozen=True)

    http_port: int = Field(8001, description="Port of the requests HTTP API.")
    policy: str = Field("epidemic-2020", description="Policy preset in force at start: epidemic-2020 or standard-2019.")
