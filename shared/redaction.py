"""What counts as personal data in a log line and how it is masked: values under personal keys, and phone numbers,
ID numbers, e-mail addresses and SQL bound values inside any text.

Pure string work: nothing here configures logging or decides what is logged (shared/logging.py does).
"""

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
# Keys whose values are personal data whatever they hold (STYLE §6), as the contract and the services name them.
PII_KEYS = frozenset({
    "name", "phone", "phone_number", "mobile", "mobile_number", "tel", "telephone", "contact", "contact_phone",
    "id_number", "id_no", "id_card", "national_id", "passport_number", "email", "email_address", "e_mail",
    "address_line", "home_address",
})
# `<who>_name` is a person's name; `branch_name`, `topic_name`, … are not.
_PERSON_NAME_KEY = re.compile(
    r"(?:full|first|last|given|family|middle|legal|display|customer|recipient|borrower|co_borrower|applicant|"
    r"contact|person|holder|user|staff|agent)_?name"
)
_MIN_DIGITS = 7  # a run this long, separators removed, may be a phone or ID number: masked
_SEPARATORS = r"[\s\-.()+]"  # what people put between the digits of a phone or ID number

# One pass, left to right: at each position the readable shapes are tried first and kept as they are, then e-mail
# addresses and runs of digits (7 or more, separators ignored, an ID number's trailing X included) are masked.
_DATE = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?!\d)"  # a phone written 1380-01-38000 is no date
_ISO_TIME = _DATE + r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
# An id ends where a word does, and is no id when it is the start of an e-mail address's local part ("a-a@0.cn").
_ID_END = r"(?![0-9A-Za-z])(?![A-Za-z0-9._%+-]*@)"
_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_TEXT = re.compile(
    rf"(?P<keep>(?<![0-9A-Za-z])(?:[A-Za-z]{{1,8}}-)?{_UUID}{_ID_END}"  # ids: a UUID, or B-<uuid>
    rf"|(?<![0-9A-Za-z])[A-Za-z]{{1,8}}-(?=[0-9A-Fa-f]*[A-Fa-f])[0-9A-Fa-f]+{_ID_END}"  # L-3f0a9c2e1b
    rf"|(?<![0-9A-Za-z])(?=[0-9a-f]*[a-f])[0-9a-f]{{32,}}{_ID_END}"  # hashes (sha256)
    rf"|{_ISO_TIME})"
    r"|(?P<email>[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})"
    # A run of digits may not run on into a date: "retry 3 2020-02-03" keeps its date.
    rf"|(?P<digits>[+(]?(?!{_DATE})\d(?:{_SEPARATORS}*(?!{_DATE})\d)*(?:[Xx](?![A-Za-z0-9]))?)"
)
# SQL errors carry the values bound to a statement: asyncpg's DETAIL (the key or row at fault), its message about
# an argument it could not encode, SQLAlchemy's parameter list (on an engine without hide_parameters). A line ends
# at a line break, or where a repr writes one out as backslash-n.
_LINE = r"(?:(?!\\n)[^\n])*"
_SQL_VALUES = (
    (re.compile(r"(DETAIL:\s+)" + _LINE), r"\1[values hidden]"),
    (re.compile(r"\[parameters: " + _LINE), "[parameters hidden]"),
    # the reason asyncpg gives stays: the last parenthesis on the line
    (re.compile(r"(invalid input for query argument \$\d+: )(?:" + _LINE + r"( \([^()\n]*\))(?=\n|\\n|$)|"
                + _LINE + ")"), r"\1[value hidden]\2"),
)
_SQL_MARKERS = ("DETAIL:", "[parameters:", "query argument")


def _masked(match: re.Match[str]) -> str:
    text = match.group()
    if match.lastgroup == "keep":
        return text
    if match.lastgroup == "digits" and sum(c.isdigit() for c in text) < _MIN_DIGITS:
        return text
    return MASK


def hide_sql_values(text: str) -> str:
    """Drops the values an SQL error quotes (DETAIL lines, parameter lists, arguments asyncpg could not encode),
    keeping the statement and the kind of error."""
    if not any(marker in text for marker in _SQL_MARKERS):
        return text
    for pattern, replacement in _SQL_VALUES:
        text = pattern.sub(replacement, text)
    return text


def mask_text(text: str) -> str:
    """Masks e-mail addresses and any run of 7+ digits (separators removed) inside free text; dates, times, UUIDs,
    ids like L-0001 or L-3f0a9c2e1b and hashes stay readable (an IP address written out in
    full may not: 1.23.45.67 and a phone number grouped the same way cannot be told apart)."""
    return _TEXT.sub(_masked, hide_sql_values(text)) if len(text) >= _MIN_DIGITS - 1 else text


def personal_key(key: str) -> bool:
    key = key.lower().replace("-", "_")
    return key in PII_KEYS or _PERSON_NAME_KEY.fullmatch(key.rsplit(".", 1)[-1]) is not None


def redact(value: Any, key: str | None = None) -> Any:
    """The value with personal data masked: whole under a personal key, inside text anywhere else (nested too)."""
    if key is not None and value is not None and personal_key(key):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
