"""Topic names of the Kafka contract (CONTRACT.md) and their dead-letter twins."""

from typing import Final

LOANS_SNAPSHOTS: Final = "loans.snapshots"
REQUESTS_COMMANDS: Final = "requests.commands"
REQUESTS_EVENTS: Final = "requests.events"
CONFIRMATION_COMMANDS: Final = "confirmation.commands"
CONFIRMATION_EVENTS: Final = "confirmation.events"
APPOINTMENTS_COMMANDS: Final = "appointments.commands"
APPOINTMENTS_EVENTS: Final = "appointments.events"
NOTIFICATIONS_EVENTS: Final = "notifications.events"

ALL: Final = (
    LOANS_SNAPSHOTS,
    REQUESTS_COMMANDS,
    REQUESTS_EVENTS,
    CONFIRMATION_COMMANDS,
    CONFIRMATION_EVENTS,
    APPOINTMENTS_COMMANDS,
    APPOINTMENTS_EVENTS,
    NOTIFICATIONS_EVENTS,
)


def dlq(topic: str) -> str:
    """The dead-letter topic of `topic` (CONTRACT.md: `<topic>.dlq`)."""
    return f"{topic}.dlq"


ALL_WITH_DLQ: Final = ALL + tuple(dlq(t) for t in ALL)
