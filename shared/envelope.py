"""CloudEvents 1.0 structured-mode envelope: building, encoding and strict decoding at the consumer's edge.

Decoding never raises anything but `UndecodableMessage`, whose `kind` names the dead-letter reason.
"""

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar, Union
from uuid import uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import to_json

from shared.contracts import TOPIC_TYPES, Contract
from shared.contracts._bounds import MAX_VALUE_BYTES, text_check

CONTENT_TYPE = "application/cloudevents+json"
DataT = TypeVar("DataT")


class CloudEvent(BaseModel, Generic[DataT]):
    """One message on any contract topic (CONTRACT.md "Envelope")."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"]
    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    source: str = Field(min_length=1)
    time: AwareDatetime | None = None
    subject: str | None = None
    datacontenttype: str | None = "application/json"
    correlationid: str | None = None
    causationid: str | None = None
    data: DataT

    @model_validator(mode="after")
    def _within_bounds(self) -> "CloudEvent[DataT]":
        """CONTRACT.md 1.1 bounds on the envelope: ids and the subject are identifiers, the rest short text."""
        if (problem := _envelope_problem(self.__dict__)) is not None:
            raise ValueError(problem)
        return self


# (attribute, the field name whose bound it keeps, that bound's check): all text
_ENVELOPE_BOUNDS = tuple((name, kind, text_check(kind)) for name, kind in (
    ("id", "id"), ("type", "type"), ("source", "source"), ("subject", "subject_id"),
    ("correlationid", "correlation_id"), ("causationid", "causation_id"), ("datacontenttype", "datacontenttype")))


def _envelope_problem(values: Mapping[str, Any]) -> str | None:
    """The first envelope bound `values` (attribute -> value) breaks, in the words of the field it keeps; or None."""
    for name, kind, check in _ENVELOPE_BOUNDS:
        if (value := values[name]) is not None:
            if not isinstance(value, str):  # (validation has made every one text; `encode_event`'s caller may not)
                return f"{name}: must be text"
            if (problem := check(value, None)) is not None:
                return problem.replace(kind, name, 1)
    return None


class ErrorKind(StrEnum):
    """Why a message went to its dead-letter topic (header `x-error-kind`)."""

    NOT_JSON = "not-json"
    NOT_CLOUDEVENT = "not-cloudevent"
    UNKNOWN_TYPE = "unknown-type"
    INVALID_DATA = "invalid-data"
    TOO_LARGE = "too-large"
    PROCESSING_FAILED = "processing-failed"
    FORBIDDEN_SOURCE = "forbidden-source"  # CONTRACT "Who may write": the source is not one of the topic's writers


class UndecodableMessage(Exception):
    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def _typed_envelope(model: type[Contract]) -> type[CloudEvent[Any]]:
    # Both types are built at run time from `model`, which mypy cannot follow: they are typed as what they are.
    base: type[CloudEvent[Any]] = CloudEvent[model]  # type: ignore[valid-type]
    literal: Any = Literal[model.type_name()]
    return create_model(f"{model.type_name()}Event", __base__=base, type=(literal, ...))


def envelope_union(models: Iterable[type[Contract]]) -> Any:
    """A discriminated union (on `type`) of the envelopes of `models`: one topic's message schema."""
    members = tuple(_typed_envelope(m) for m in models)
    if len(members) == 1:
        return members[0]
    return Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007


_ANY_EVENT = CloudEvent[Any]
_BASE = TypeAdapter(_ANY_EVENT)


class TopicCodec:
    """Validates the bytes of one topic's records against that topic's contract types."""

    def __init__(self, topic: str, models: Iterable[type[Contract]]) -> None:
        self.topic = topic
        self.models = {m.type_name(): m for m in models}
        self.schema = envelope_union(self.models.values())
        self._adapter: TypeAdapter[Any] = TypeAdapter(self.schema)

    def decode(self, value: bytes | None, *, now: datetime | None = None) -> CloudEvent[Any]:
        """The record's CloudEvent, or `UndecodableMessage`; `now` (the receiver's clock) bounds "when it
        happened" times. Never raises anything else, whatever the bytes."""
        body = value or b""
        if len(body) > MAX_VALUE_BYTES:
            raise UndecodableMessage(ErrorKind.TOO_LARGE, f"{len(body)} bytes, at most {MAX_VALUE_BYTES}")
        context = {"now": now}
        try:  # the common case in one pass; a failure is then classified below
            return self._adapter.validate_json(body, context=context)  # type: ignore[no-any-return]
        except (ValidationError, ValueError, RecursionError):
            pass
        try:
            raw = _BASE.validate_json(body)
        except ValidationError as exc:
            kind = ErrorKind.NOT_JSON if _is_json_error(exc) else ErrorKind.NOT_CLOUDEVENT
            raise UndecodableMessage(kind, _summary(exc)) from None
        except (ValueError, RecursionError) as exc:
            raise UndecodableMessage(ErrorKind.NOT_JSON, type(exc).__name__) from None
        if raw.type not in self.models:
            raise UndecodableMessage(ErrorKind.UNKNOWN_TYPE, f"type {raw.type[:64]!r} is not allowed on {self.topic}")
        try:
            return self._adapter.validate_python(  # type: ignore[no-any-return]
                raw.model_dump(), strict=False, context=context)
        except (ValidationError, ValueError, RecursionError) as exc:
            detail = _summary(exc) if isinstance(exc, ValidationError) else type(exc).__name__
            raise UndecodableMessage(ErrorKind.INVALID_DATA, detail) from None


@functools.cache  # building one costs milliseconds (a pydantic schema of the topic's union); a codec never changes
def codec(topic: str) -> TopicCodec:
    """The decoder of `topic`'s records, for the contract types that travel on it."""
    return TopicCodec(topic, TOPIC_TYPES[topic])


def _is_json_error(exc: ValidationError) -> bool:
    return any(e["type"] == "json_invalid" for e in exc.errors())


def _summary(exc: ValidationError) -> str:
    """What failed, where: field paths (each part cut short, as keys may come from the input) and pydantic's
    messages, which never repeat the input's value. At most 500 characters (a dead letter's header)."""
    parts = [f"{'.'.join(str(x)[:64] for x in e['loc']) or '<root>'}: {e['msg'][:200]}"
             for e in exc.errors(include_url=False, include_input=False)[:5]]
    return "; ".join(parts)[:500]


def new_event(
    data: Contract,
    *,
    source: str,
    subject: str,
    time: datetime,
    correlationid: str | None = None,
    causationid: str | None = None,
    event_id: str | None = None,
    extensions: Mapping[str, str] | None = None,
) -> CloudEvent[Any]:
    """An envelope for `data`; its `type` is the contract class name. `extensions` are extension attributes (the
    trace context, shared.tracing.carrier): added beside the contract's, never in place of one."""
    return _ANY_EVENT(**_attributes(data, source, subject, time, correlationid, causationid, event_id), data=data,
                      **(extensions or {}))


def _attributes(data: Contract, source: str, subject: str, time: datetime, correlationid: str | None,
                causationid: str | None, event_id: str | None) -> dict[str, Any]:
    """A new event's context attributes, in the envelope's order: the id, type and content type made here."""
    return {"specversion": "1.0", "id": event_id or str(uuid4()), "type": data.type_name(), "source": source,
            "time": time, "subject": subject, "datacontenttype": "application/json",
            "correlationid": correlationid, "causationid": causationid}


def encode_event(data: Contract, *, source: str, subject: str, time: datetime, correlationid: str | None = None,
                 causationid: str | None = None, event_id: str | None = None) -> bytes:
    """`encode(new_event(...))`, byte for byte, without building the envelope's model: every event a service emits
    is encoded here, and validating an envelope whose id, type and content type are made here, around `data`
    validated when it was built, cost more than encoding it. What the caller gives is checked as validation would:
    the envelope's bounds (with their words), a time with its zone, a source."""
    values = _attributes(data, source, subject, time, correlationid, causationid, event_id)
    if not source:  # (the fields' own checks first, then the bounds, as validation orders them)
        raise ValueError("source: an event names its source")
    if not isinstance(time, datetime) or time.utcoffset() is None:
        raise ValueError("time: an event's time has its time zone")
    if (problem := _envelope_problem(values)) is not None:
        raise ValueError(problem)
    return to_json({**{k: v for k, v in values.items() if v is not None}, "data": data}, exclude_none=True)


def encode(event: CloudEvent[Any]) -> bytes:
    """Structured-mode JSON; absent optional attributes and fields are left out, not sent as null."""
    return event.model_dump_json(exclude_none=True).encode()
