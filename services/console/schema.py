"""The console's own schema: its metadata (read models add their tables to it, services.console.readmodel) and
the staff's web sessions."""

from sqlalchemy import ARRAY, Column, DateTime, Index, MetaData, Table, Text

SCHEMA = "console"
metadata = MetaData(schema=SCHEMA)

# A signed-in member of staff: the browser holds only a random id (its SHA-256 is the key here, so a leaked table
# does not hand out live cookies); the tokens stay server-side, refreshed here, and are sent to the owning services.
WebSession = Table(
    "web_sessions", metadata,
    Column("id_hash", Text, primary_key=True),
    Column("username", Text, nullable=False),
    Column("roles", ARRAY(Text), nullable=False),
    Column("access_token", Text, nullable=False),
    Column("access_expires_at", DateTime(timezone=True), nullable=False),
    Column("refresh_token", Text),
    Column("id_token", Text),
    Column("csrf", Text, nullable=False),  # the session's form token (every POST must carry it)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("web_sessions_expiry", "expires_at"),
)
