"""Reading the desks' HTML forms: text fields as the owning services' JSON bodies expect them (an empty field is
left out, so the service's own default or its refusal applies; the console validates nothing the service decides)."""

from collections.abc import Iterable
from typing import Any

from starlette.datastructures import FormData

MAX_FIELD = 2000  # longer than any field of the contract; the services refuse what their bounds do not allow


def text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()[:MAX_FIELD]
    return value or None


def fields(form: FormData, names: Iterable[str]) -> dict[str, Any]:
    """The named fields that were filled in."""
    return {name: value for name in names if (value := text(form, name)) is not None}


def invalid_fields(detail: Any) -> list[str]:
    """A 422's errors as "field: message" lines (the services' pydantic errors, input values not included)."""
    if isinstance(detail, str):
        return [detail]
    if not isinstance(detail, list):
        return []
    lines = []
    for error in detail[:20]:
        if isinstance(error, dict):
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
            lines.append(f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", "")))
    return lines
