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
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel

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


Check = Callable[[Any, datetime | None], str | None]
"""One field's bound: the problem with a (validated, not None) value, given the receiver's clock, or None."""


def field_checks(fields: Mapping[str, Any]) -> tuple[tuple[str, Check], ...]:
    """The checks `value_problem` makes on the fields `fields` names (name -> annotation), worked out once per model.

    Every record is checked field by field on every service's hot path, and the generic walk asked each value its
    type on every record. Here each field's check is chosen once from its declared type; a type whose every value
    keeps within the bounds (booleans, days, money, enumerations and literals whose members do, nested contract
    models, which check themselves, times that are not "when it happened") has none; a list of such values, its
    length alone. A type this cannot tell (maps, lists of text, unions of kinds) keeps the generic walk. The problems
    found, and their words, are the generic walk's.
    """
    return tuple((name, check) for name, annotation in fields.items()
                 if name not in UNBOUNDED and (check := _check_of(name, annotation)) is not None)


def _check_of(name: str, annotation: Any) -> Check | None:
    kinds = _kinds(annotation)
    kinds.discard(type(None))
    if len(kinds) != 1:
        return _generic(name)
    kind = kinds.pop()
    if kind is str:
        return text_check(name)
    if isinstance(kind, tuple):  # Literal[...]
        return None if all(value_problem(name, v, None) is None for v in kind) else _generic(name)
    if isinstance(kind, _ListOf):  # its length, then each item's own check
        return _list_check(name, kind.item)
    if not isinstance(kind, type):
        return _generic(name)
    if kind is AwareDatetime:  # pydantic's marker type: the value is a datetime
        kind = datetime
    if issubclass(kind, Enum):
        return None if all(value_problem(name, m, None) is None for m in kind) else _generic(name)
    if kind is bool or issubclass(kind, Decimal | BaseModel) or (kind is date):
        return None
    if kind is int:
        low, high = INT32
        return lambda v, now: None if low <= v <= high else value_problem(name, v, now)
    if kind is datetime:
        if not _happened(name):
            return None
        return lambda v, now: None if now is None or v <= now + MAX_AHEAD else value_problem(name, v, now)
    return _generic(name)


def _kinds(annotation: Any) -> set[Any]:
    """The runtime types a value of `annotation` can have (Annotated and Optional unwrapped); a Literal's values
    as one tuple; list[item] and tuple[item, ...] as `_ListOf`; another generic alias (dict[...]) as itself."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _kinds(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return {kind for arg in get_args(annotation) for kind in _kinds(arg)}
    if origin is Literal:
        return {get_args(annotation)}
    args = get_args(annotation)
    if (origin is list and len(args) == 1) or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        return {_ListOf(args[0])}
    return {annotation}


@dataclass(frozen=True)
class _ListOf:
    """`_kinds`' answer for list[item] and tuple[item, ...]."""

    item: Any


def _list_check(name: str, item: Any) -> Check:
    limit = MAX_PEOPLE if name in PEOPLE else MAX_LIST
    item_check = _check_of(name, item)
    if item_check is None:
        return lambda v, now: None if len(v) <= limit else value_problem(name, v, now)
    return _generic(name)


def _generic(name: str) -> Check:
    return lambda v, now: value_problem(name, v, now)


def text_check(name: str) -> Check:
    """`text_problem` for the text field `name`, with the common case (within bounds) answered in a line."""
    identifier, limit = _text_rule(name)
    if identifier:
        def identifier_check(v: str, _now: datetime | None) -> str | None:
            return None if len(v) <= limit and v.isprintable() and v.strip() else text_problem(name, v)
        return identifier_check
    search = _CONTROL.search

    def text_check(v: str, _now: datetime | None) -> str | None:
        return None if len(v) <= limit and search(v) is None else text_problem(name, v)
    return text_check
