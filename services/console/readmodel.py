"""Read models of the event streams (the design's "dashboards consuming event streams"): tables of the console's
own schema, rebuilt from requests.events, confirmation.events and appointments.events."""

from services.console.schema import SCHEMA, metadata

__all__ = ["SCHEMA", "metadata"]
