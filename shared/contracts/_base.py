"""Base classes and field types every contract model shares: frozen, additive-only, wire-exact."""

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    model_validator,
)

from shared.contracts._bounds import Check, field_checks


def _no_float(value: object) -> object:
    if isinstance(value, float):
        raise ValueError("money must be a decimal string such as \"5230.15\", not a float")
    return value


# Money travels as a decimal string ("5230.15"); floats are refused so no cent is ever rounded away.
Money = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(allow_inf_nan=False, max_digits=18, decimal_places=2),  # NUMERIC(18, 2) in every service
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
Timestamp = AwareDatetime
Day = date


class Contract(BaseModel):
    """The `data` of one CloudEvent type. The class name is the CloudEvent `type`."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_enum_values=False)

    @model_validator(mode="after")
    def _within_bounds(self, info: ValidationInfo) -> "Contract":
        """CONTRACT.md 1.1 "Bounds" (shared.contracts._bounds); a nested contract model checks its own fields."""
        now = info.context.get("now") if isinstance(info.context, dict) else None
        values = self.__dict__
        for name, check in _checks(type(self)):
            if (value := values[name]) is not None and (problem := check(value, now)) is not None:
                raise ValueError(problem)
        return self

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__


_CHECKS: dict[type[Contract], tuple[tuple[str, Check], ...]] = {}


def _checks(model: type[Contract]) -> tuple[tuple[str, Check], ...]:
    """Each contract model's field checks (shared.contracts._bounds.field_checks), worked out at its first record."""
    try:
        return _CHECKS[model]
    except KeyError:
        checks = _CHECKS[model] = field_checks({n: f.annotation for n, f in model.model_fields.items()})
        return checks


class Command(Contract):
    """An imperative message other systems send to a service; it carries its own `command_id`."""

    command_id: str = Field(min_length=1, description="Unique id chosen by the sender; replays share it.")


class Channel(StrEnum):
    APP = "APP"
    WECHAT = "WECHAT"
    HOTLINE = "HOTLINE"
    ACCOUNT_MANAGER = "ACCOUNT_MANAGER"
    BRANCH = "BRANCH"


class RequestType(StrEnum):
    DEBIT_DAY_CHANGE = "DEBIT_DAY_CHANGE"
    EARLY_REPAYMENT = "EARLY_REPAYMENT"


class CommandRejected(Contract):
    """Any service: a command it could not apply, with the reason in plain words and the facts it rests on.

    It changes nothing: the command is refused, whatever it named goes on as before (contract 1.1).
    """

    command_id: str
    command_type: str
    reason_code: str
    reason: str
    facts: dict[str, str] = Field(description="The facts the refusal rests on.")
    rejected_at: Timestamp | None = None
    request_id: str | None = Field(default=None, description="The request the command named, if any.")
    booking_id: str | None = Field(default=None, description="The booking the command named, if any.")
    task_id: str | None = Field(default=None, description="The call task the command named, if any.")
    customer_id: str | None = Field(default=None, description="Who sent the command, when it names a customer.")
