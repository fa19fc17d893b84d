"""Settings of the console (env prefix CONSOLE_, falling back to POSTLOAN_)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.secret_files import state_dir
from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", frozen=True)

    http_port: int = Field(8005, description="Port of the console's pages.")
    public_url: str = Field("http://127.0.0.1:8005", description="Where staff's browsers reach the console "
                            "(the sign-in's redirect address is made from it; https makes its cookies Secure).")
    oidc_client_id: str = Field("postloan-console", description="The realm's client the console signs staff in "
                                "with (authorization code + PKCE S256; public, so no secret).")
    oidc_internal_url: str = Field("", description="Where the console itself reaches the realm (token exchange, "
                                   "refresh, keys); empty: the issuer (POSTLOAN_AUTH_ISSUER), which browsers use.")
    session_key_file: str = Field("", description="Key signing the sign-in's short-lived state cookie; empty: "
                                  "$POSTLOAN_STATE_DIR/secrets/console/session-key, generated on first start.")
    session_hours: float = Field(10.0, gt=0, le=24, description="A staff session ends this long after sign-in at "
                                 "the latest (sooner when the realm ends it: the refresh token is refused).")
    requests_url: str = Field("http://127.0.0.1:8001", description="The requests service's HTTP API.")
    confirmation_url: str = Field("http://127.0.0.1:8002", description="The confirmation service's HTTP API.")
    appointments_url: str = Field("http://127.0.0.1:8003", description="The appointments service's HTTP API.")
    dead_letter_poll_s: float = Field(5.0, gt=0, description="How often the dead-letter topics are counted "
                                      "(end minus beginning offsets) for the dashboard.")
    api_timeout_s: float = Field(10.0, gt=0, description="Timeout of one call to an owning service.")

    def realm_url(self) -> str:
        return (self.oidc_internal_url or self.auth_issuer).rstrip("/")

    def session_key_path(self) -> Path:
        return Path(self.session_key_file) if self.session_key_file else \
            state_dir() / "secrets" / "console" / "session-key"
