"""Kafka handlers of the console: each event updates the read models. No rules here: the owning services decided."""

from shared import topics
from shared.messaging import Routes

ROUTES: Routes = {topics.REQUESTS_EVENTS: {}, topics.CONFIRMATION_EVENTS: {}, topics.APPOINTMENTS_EVENTS: {}}
