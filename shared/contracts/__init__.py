"""Every type of the Kafka contract (CONTRACT.md), grouped by the topic it travels on."""

from shared import topics
from shared.contracts import appointments, confirmation, loans, notifications, requests
from shared.contracts._base import Command, CommandRejected, Contract

TOPIC_TYPES: dict[str, tuple[type[Contract], ...]] = {
    topics.LOANS_SNAPSHOTS: loans.TYPES,
    topics.REQUESTS_COMMANDS: requests.COMMAND_TYPES,
    topics.REQUESTS_EVENTS: requests.EVENT_TYPES,
    topics.CONFIRMATION_COMMANDS: confirmation.COMMAND_TYPES,
    topics.CONFIRMATION_EVENTS: confirmation.EVENT_TYPES,
    topics.APPOINTMENTS_COMMANDS: appointments.COMMAND_TYPES,
    topics.APPOINTMENTS_EVENTS: appointments.EVENT_TYPES,
    topics.NOTIFICATIONS_EVENTS: notifications.EVENT_TYPES,
}

__all__ = ["TOPIC_TYPES", "Command", "CommandRejected", "Contract"]
