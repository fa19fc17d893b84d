"""CONTRACT.md 1.1 "Bounds", applied by one validator to every contract model (no per-field special cases).

A field's kind follows from its name, as CONTRACT.md words it: identifiers (`id`, `*_id`, codes and numbers
that identify something) are at most 128 printable characters; free text (`reason`, `note`, `description`,
`error`) at most 1,000; any other text (names, addresses, labels) at most 256; no text holds NUL, another
control character or an unpaired surrogate (PostgreSQL and UTF-8 cannot hold them); integers fit a signed
32-bit column; `borrowers` and `co_borrowers` hold at most 10, other lists at most 500, maps at most 64
entries; `as_of` and the other "when it happened" times (`*_at`, but not `available_at`, a time to come, nor
`submitted_at`, which the requests service refuses with reasons of its own) are at most 5 minutes ahead of the
receiver's clock, when the receiver says what its clock reads (validation context `now`).
"""

import re
from datetime import datetime, timedelta
from functools import cache
from typing import Any

MAX_VALUE_BYTES = 64 * 1024
MAX_ID, MAX_SHORT, MAX_TEXT = 128, 256, 1000
MAX_PEOPLE, MAX_LIST, MAX_MAP = 10, 500, 64
INT32 = (-(2**31), 2**31 - 1)
MAX_AHEAD = timedelta(minutes=5)

FREE_TEXT = frozenset({"reason", "note", "description", "error"})
PEOPLE = frozenset({"borrowers", "co_borrowers"})
NOT_HAPPENED = frozenset({"available_at", "submitted_at"})
UNBOUNDED = frozenset({"document"})  # PolicyChanged.document: a policy document, bounded by its own model
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|[\ud800-\udfff]")


def is_identifier(name: str) -> bool:
    return name == "id" or name.endswith(("_id", "_code", "_number", "_sha256")) or name in (
        "version", "policy_version", "previous_version", "command_type", "template")


@cache
def _text_rule(name: str) -> tuple[bool, int]:
    """Whether the text field `name` is an identifier, and its length limit: worked out once per name (every
    record is checked field by field, so this is on every service's hot path)."""
    if is_identifier(name):
        return True, MAX_ID
    return False, MAX_TEXT if name in FREE_TEXT else MAX_SHORT


def text_problem(name: str, value: str) -> str | None:
    """Why `value` cannot be the text field `name`, or None. Never echoes the value itself."""
    identifier, limit = _text_rule(name)
    if identifier:
        if not value.isprintable() or not value.strip():
            return f"{name}: an identifier must be printable characters only"
    elif _CONTROL.search(value):
        return f"{name}: control characters (NUL included) or unpaired surrogates are not allowed"
    if len(value) > limit:
        return f"{name}: {len(value)} characters, at most {limit}"
    return None


def value_problem(name: str, value: Any, now: datetime | None) -> str | None:
    """The first bound `value` (the field `name`, already of its declared type) breaks, or None."""
    if value is None or name in UNBOUNDED:
        return None
    kind = type(value)
    if kind is str or isinstance(value, str):  # exact str first: most fields are
        return text_problem(name, value)
    if kind is bool:
        return None
    if isinstance(value, int):
        return None if INT32[0] <= value <= INT32[1] else f"{name}: {value} is outside the 32-bit range"
    if isinstance(value, datetime):
        if now is not None and _happened(name) and value > now + MAX_AHEAD:
            return f"{name}: {value.isoformat()} is more than 5 minutes ahead of the receiver's clock"
        return None
    if isinstance(value, list | tuple):
        limit = MAX_PEOPLE if name in PEOPLE else MAX_LIST
        if len(value) > limit:
            return f"{name}: {len(value)} items, at most {limit}"
        return next((p for item in value if (p := value_problem(name, item, now)) is not None), None)
    if isinstance(value, dict):
        if len(value) > MAX_MAP:
            return f"{name}: {len(value)} entries, at most {MAX_MAP}"
        for key, item in value.items():
            if isinstance(key, str) and (p := text_problem(f"{name} key", key)) is not None:
                return p
            if (p := value_problem(name, item, now)) is not None:
                return p
    return None


@cache
def _happened(name: str) -> bool:
    return name == "as_of" or (name.endswith("_at") and name not in NOT_HAPPENED)
