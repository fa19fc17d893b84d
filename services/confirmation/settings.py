"""Settings of the confirmation service (env prefix CONFIRMATION_, falling back to POSTLOAN_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONFIRMATION_", extra="ignore", frozen=True)

    http_port: int = Field(8002, description="Port of the confirmation HTTP API.")
    max_attempts: int = Field(3, ge=1, description=(
        "Fallback only, for tasks created before requests carried their confirmation attempts (SPEC §9)."))
    retry_pause_s: float = Field(1800, ge=0, description="Pause before an unanswered task comes back to the queue.")
    lease_s: float = Field(300, gt=0, description="How long an agent holds a task without renewing it.")
    next_task_rate: str = Field("120/minute", pattern=r"^\d+/(second|minute|hour)$", description=(
        "Most POST /tasks/next calls per agent (per copy) in a moving window; past it a 429 with Retry-After: each "
        "answer hands out a co-borrower's phone number."))
    next_task_concurrency: int = Field(4, ge=1, description=(
        "POST /tasks/next calls a copy serves at once; the rest wait first come, first served. A few at a time keeps "
        "a burst of agents from being answered all together, and so from asking again all together."))
    alert_window_h: float = Field(24, ge=0, description="A task still open this close to its deadline is flagged.")
    database_pool_size: int = Field(25, ge=1, description=(
        "Connections each copy keeps open: the agents of a call centre ask for work at once (POST /tasks/next), "
        "each on a connection of its own; past the pool, connections are opened and closed per request."))
