"""Storage of the appointments service (schema `appointments`); only its inbox and outbox so far."""

from sqlalchemy import MetaData

SCHEMA = "appointments"
metadata = MetaData(schema=SCHEMA)
