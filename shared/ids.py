"""Ids derived from names: what a message creates is named by the message, so every copy that decides it names it
alike."""

import hashlib
import uuid


def uuid5(namespace: uuid.UUID, name: str) -> uuid.UUID:
    """`uuid.uuid5(namespace, name)`, the same UUID, without the `from hashlib import sha1` that the standard one runs
    on every call (an import statement, and two failed attribute lookups with their messages formatted: about
    5,000 instructions a call, on every message of four services)."""
    return uuid.UUID(bytes=hashlib.sha1(namespace.bytes + name.encode()).digest()[:16], version=5)
