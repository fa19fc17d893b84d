"""Storage of the confirmation service (schema `confirmation`); only its inbox and outbox so far."""

from sqlalchemy import MetaData

SCHEMA = "confirmation"
metadata = MetaData(schema=SCHEMA)
