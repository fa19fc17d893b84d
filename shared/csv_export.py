"""CSV the project writes for people to open in a spreadsheet, with formula injection defused (OWASP "CSV
Injection"): a text cell starting with = + - @, a tab or a carriage return is prefixed with a single quote, so a
spreadsheet shows it as text instead of running it. The quote is the only change; numbers stay numbers.

Plumbing only: which columns a report has is the caller's business.
"""

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet may show it: text that a spreadsheet would read as a formula gets a leading
    quote; anything else (numbers, None, other text) is as given."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A header line and one line per row, every cell through `safe_cell` (headers too: the caller names them,
    but nothing keeps a future column from starting with '-')."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(c) for c in columns])
    writer.writerows([safe_cell(row.get(c)) for c in columns] for row in rows)
    return out.getvalue()
