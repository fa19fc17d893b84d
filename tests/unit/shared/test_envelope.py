"""CloudEvents envelope: what goes out is a valid structured-mode CloudEvent; what comes in is classified."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cloudevents.kafka import KafkaMessage, from_structured
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared import topics
from shared.contracts import requests as R
from shared.envelope import ErrorKind, UndecodableMessage, codec, encode, encode_event, new_event
from shared.outbox import OutgoingRecord
from tests.unit.shared.test_bounds import DATA, MODELS, NOW, texts

COMMAND = R.WithdrawRequest(command_id="cmd-1", request_id="R-1", applicant_customer_id="C-1")


def an_event() -> bytes:
    return encode(new_event(COMMAND, source="tests", subject="L-1", time=datetime(2020, 2, 3, 1, tzinfo=UTC),
                            correlationid="corr-1", causationid="cause-1"))


def test_an_encoded_event_is_a_valid_structured_kafka_cloudevent_for_the_sdk() -> None:
    parsed = from_structured(KafkaMessage(headers={}, key=b"L-1", value=an_event()))
    assert parsed["specversion"] == "1.0"
    assert parsed["type"] == "WithdrawRequest"
    assert parsed["subject"] == "L-1"
    assert parsed["correlationid"] == "corr-1" and parsed["causationid"] == "cause-1"
    assert parsed.data["request_id"] == "R-1"


def test_absent_optional_attributes_are_left_out_not_null() -> None:
    raw = json.loads(encode(new_event(COMMAND, source="tests", subject="L-1", time=datetime.now(UTC))))
    assert "correlationid" not in raw and None not in raw.values()


def test_decoding_returns_the_typed_data() -> None:
    event = codec(topics.REQUESTS_COMMANDS).decode(an_event())
    assert event.data == COMMAND and event.id


def test_the_outbox_record_is_keyed_by_subject_with_the_cloudevents_content_type() -> None:
    record = OutgoingRecord.of_event(topics.REQUESTS_COMMANDS, codec(topics.REQUESTS_COMMANDS).decode(an_event()))
    assert record.key == b"L-1"
    assert ("content-type", "application/cloudevents+json") in record.headers


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (b"{not json", ErrorKind.NOT_JSON),
        (b"\xff\xfe\x00", ErrorKind.NOT_JSON),
        (None, ErrorKind.NOT_JSON),
        (b"[1, 2]", ErrorKind.NOT_CLOUDEVENT),
        (b'{"id": "1", "type": "WithdrawRequest", "source": "s", "data": {}}', ErrorKind.NOT_CLOUDEVENT),
        (b'{"specversion": "0.3", "id": "1", "type": "WithdrawRequest", "source": "s", "data": {}}',
         ErrorKind.NOT_CLOUDEVENT),
        (b'{"specversion": "1.0", "id": "1", "type": "RequestApproved", "source": "s", "data": {}}',
         ErrorKind.UNKNOWN_TYPE),
        (b'{"specversion": "1.0", "id": "1", "type": "WithdrawRequest", "source": "s", "data": {"x": 1}}',
         ErrorKind.INVALID_DATA),
    ],
    ids=["broken", "binary", "empty", "array", "no-specversion", "old-specversion", "wrong-topic", "bad-data"],
)
def test_each_undecodable_message_is_classified(value: bytes | None, kind: ErrorKind) -> None:
    with pytest.raises(UndecodableMessage) as caught:
        codec(topics.REQUESTS_COMMANDS).decode(value)
    assert caught.value.kind is kind
    assert caught.value.detail


@settings(max_examples=500, deadline=None)
@given(name=st.sampled_from(sorted(MODELS)), source=st.one_of(texts, st.just("postloan/requests")),
       subject=st.one_of(texts, st.just("L-1")), correlationid=st.one_of(st.none(), texts),
       causationid=st.one_of(st.none(), texts),
       time=st.sampled_from([NOW, NOW.replace(tzinfo=None), NOW.astimezone(timezone(timedelta(hours=8))),
                             NOW.replace(microsecond=123456)]))
def test_an_emitted_event_is_encoded_or_refused_exactly_as_its_envelope_model_would(
        name: str, source: str, subject: str, correlationid: str | None, causationid: str | None,
        time: datetime) -> None:
    """`encode_event` (every emitted event) builds no envelope model: the same bytes as `encode(new_event(...))`, or
    refused where the model refuses, with the bound's words."""
    data = MODELS[name].model_validate(json.loads((DATA / f"{name}.json").read_text(encoding="utf-8")))
    given_: dict[str, Any] = {"source": source, "subject": subject, "time": time, "correlationid": correlationid,
                              "causationid": causationid, "event_id": "e-1"}
    try:
        built: Any = encode_event(data, **given_)
    except ValueError as exc:
        built = ("refused", str(exc))
    try:
        modelled: Any = encode(new_event(data, **given_))
    except ValidationError as exc:
        modelled = ("refused", str(exc))
    if isinstance(modelled, tuple):
        assert isinstance(built, tuple), modelled
        if "Value error" in modelled[1]:  # a bound: the same words
            assert built[1] in modelled[1]
        else:  # pydantic's own words (no time zone, an empty source): the same field named
            assert built[1].split(": ")[0] in modelled[1]
    else:
        assert built == modelled
