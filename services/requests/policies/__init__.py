"""Policy documents (SPEC §9): the strict model every document passes before it is put in force, and the presets
shipped as data: `standard-2019` (the old rules) and `epidemic-2020` (default).

A preset is found by name among the shipped files only; no path is ever built from input.
"""

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from services.requests.domain import Policy

HERE = Path(__file__).parent


def _printable(value: str) -> str:
    if not value.isprintable() or not value.strip():
        raise ValueError("the version must be printable characters only")
    return value


class PolicyDocument(BaseModel):
    """SPEC §9: a policy document, checked strictly (types and bounds) before it is put in force: no coercion
    ("false" or 0 is not a boolean, "3" not a number), no unknown field."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    version: Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_printable)] = Field(
        description="The name of this document; a version name never means two documents.")
    min_debit_day: int = Field(ge=1, le=28, description="First debit day a borrower may choose.")
    max_debit_day: int = Field(ge=1, le=28, description="Last debit day a borrower may choose (every month has it).")
    co_borrower_loans_online: bool = Field(description="Whether loans with co-borrowers may apply online.")
    cutoff_days_before_due: int = Field(0, ge=0, le=31, description="Days before the due date a request must beat.")
    confirmation_attempts: int = Field(3, ge=1, le=10, description="Calls allowed to reach each co-borrower.")
    early_repayment_max_days_ahead: int = Field(90, ge=1, le=366, description="How far ahead a repayment may be.")
    description: str = Field("", max_length=1000, description="What the policy is, in plain words.")

    @model_validator(mode="after")
    def _days_in_order(self) -> "PolicyDocument":
        if self.min_debit_day > self.max_debit_day:
            raise ValueError("min_debit_day must not be after max_debit_day")
        return self

    def to_policy(self) -> Policy:
        return Policy(**self.model_dump())


def presets() -> list[str]:
    return sorted(_PRESET_FILES)


def parse_policy(document: Any) -> Policy:
    """The policy a document describes; ValueError with every problem named when it breaks the model."""
    try:
        return PolicyDocument.model_validate(document).to_policy()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}"
                             for e in exc.errors(include_url=False, include_input=False))
        raise ValueError(f"the policy document is refused ({problems})") from None


def load_policy(name: str) -> Policy:
    """A shipped preset by name (the allow-list is the set of shipped files), checked like any document."""
    path = _PRESET_FILES.get(name)
    if path is None:
        raise ValueError(f"unknown policy preset {name[:128]!r}; known: {', '.join(presets())}")
    return parse_policy(json.loads(path.read_text(encoding="utf-8")))


_PRESET_FILES = {p.stem: p for p in HERE.glob("*.json")}
