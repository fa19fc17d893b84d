"""Settings of the appointments service (env prefix APPOINTMENTS_, falling back to POSTLOAN_)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

BUNDLED_BRANCHES = Path(__file__).parent / "branches.json"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="APPOINTMENTS_", extra="ignore", frozen=True)

    http_port: int = Field(8003, description="Port of the appointments HTTP API.")
    booking_window_days: int = Field(
        14, ge=1, le=366,
        description="Booking window of branches in the data file that name none (each plan carries its own).",
    )
    checkin_opens_min: int = Field(30, ge=0, description="Check-in opens this many minutes before the slot.")
    checkin_closes_min: int = Field(15, ge=0, description="Check-in closes this many minutes after the slot starts.")
    checkin_max_failures: int = Field(
        5, ge=1, description="Unknown booking codes tried at one branch within the window before its check-ins are "
        "refused unread until the window has passed (guessing codes is bounded per branch)."
    )
    checkin_failure_window_s: float = Field(
        600.0, gt=0, description="The window, from the first unknown code, in which check-in failures are counted."
    )
    branches_file: Path | None = Field(
        BUNDLED_BRANCHES, description="Branch plans loaded at start when the branch is not known yet (demo data)."
    )
