"""Trace context in and out of CloudEvents and records (shared/tracing.py), with the SDK's in-memory exporter: what
an emitted event carries, which span a consumed record continues, and that nothing a stranger writes can break it."""

import contextlib
import json
import logging
import random
import re
import timeit
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import outbox, principals, topics, tracing
from shared.contracts import requests as R
from shared.envelope import CONTENT_TYPE, codec, encode, new_event
from shared.messaging import MessageContext
from shared.outbox import OutgoingRecord
from tests.support.tracing import hex_ids, named, tracing_on

COMMAND = R.WithdrawRequest(command_id="cmd-1", request_id="R-1", applicant_customer_id="C-1")
NOW = datetime(2020, 2, 3, 1, tzinfo=UTC)
TRACE, SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
PARENT = f"00-{TRACE}-{SPAN}-01"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    with tracing_on() as exporter:
        yield exporter


class Record:
    def __init__(self, value: bytes, headers: list[tuple[str, bytes]] | None = None) -> None:
        self.topic, self.partition, self.offset, self.key = topics.REQUESTS_COMMANDS, 0, 7, b"L-1"
        self.value, self.headers = value, headers or []


def a_command(**extensions: Any) -> bytes:
    document = json.loads(encode(new_event(COMMAND, source="tests", subject="L-1", time=NOW)))
    return json.dumps({**document, **extensions}).encode()


def handled(record: Record) -> OutgoingRecord:
    """What a handler emits while handling `record` as the consumer does (the consume and decide spans around)."""
    event = codec(record.topic).decode(record.value)
    ctx = MessageContext(None, NOW, "postloan/requests", None, event.id, event)  # type: ignore[arg-type]
    with tracing.consuming(record.topic, record.partition, record.offset, event, record.headers):
        ctx.emit(topics.REQUESTS_EVENTS, COMMAND, subject="L-1")
    [out] = ctx.emitted
    return out


def handled_in_context(record: Record, topic: str = topics.REQUESTS_COMMANDS) -> tuple[OutgoingRecord, str]:
    """`handled`, with the trace context current while the handler ran (what stored state would keep), `record`
    arriving on `topic`."""
    event = codec(topic).decode(record.value)
    ctx = MessageContext(None, NOW, "postloan/requests", None, event.id, event)  # type: ignore[arg-type]
    with tracing.consuming(topic, record.partition, record.offset, event, record.headers):
        ctx.emit(topics.REQUESTS_EVENTS, COMMAND, subject="L-1")
        current = tracing.current_traceparent()
    [out] = ctx.emitted
    assert current is not None
    return out, current


def test_an_emitted_event_carries_the_decide_spans_context_in_its_envelope_and_header(
    exported: InMemorySpanExporter,
) -> None:
    out = handled(Record(a_command(traceparent=PARENT)))
    document = json.loads(out.value)
    decide, consume = named(exported, "decide WithdrawRequest"), named(exported, "consume ")
    trace_id, span_id = hex_ids(decide)
    assert document["traceparent"] == f"00-{trace_id}-{span_id}-01" and trace_id == TRACE
    assert dict(out.headers)["traceparent"] == document["traceparent"]
    assert consume.kind is SpanKind.CONSUMER and consume.parent is not None
    assert f"{consume.parent.span_id:016x}" == SPAN and decide.parent is not None
    assert f"{decide.parent.span_id:016x}" == hex_ids(consume)[1]
    assert consume.attributes is not None and consume.attributes["messaging.destination.name"] == "requests.commands"


def test_the_kafka_header_is_the_fallback_when_the_envelope_carries_no_context(exported: InMemorySpanExporter) -> None:
    handled(Record(a_command(), headers=[("traceparent", PARENT.encode())]))
    consume = named(exported, "consume ")
    assert consume.parent is not None and f"{consume.parent.trace_id:032x}" == TRACE


def test_a_tracestate_travels_with_its_traceparent(exported: InMemorySpanExporter) -> None:
    out = handled(Record(a_command(traceparent=PARENT, tracestate="congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")))
    assert json.loads(out.value)["tracestate"] == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"


def test_without_a_provider_no_span_is_made_and_events_carry_no_context() -> None:
    assert not tracing.enabled()
    out = handled(Record(a_command(traceparent=PARENT), headers=[("traceparent", PARENT.encode())]))
    assert "traceparent" not in json.loads(out.value) and [name for name, _ in out.headers] == ["content-type"]
    event = codec(topics.REQUESTS_COMMANDS).decode(a_command())
    # One shared null context for every call: nothing is built per record.
    assert tracing.consuming("t", 0, 0, event) is tracing.consuming("u", 1, 1, event)
    assert tracing.carrier() == {} and tracing.publishing("t", [("traceparent", PARENT.encode())]) is None


def test_with_no_provider_tracing_a_record_costs_a_fraction_of_decoding_it() -> None:
    """The hot path's price with tracing off (entering and leaving a record's consume/decide context, reading the
    context for what it emits), against decoding the record, which every record costs anyway (and which is itself
    a small part of handling it): measured side by side, so a loaded machine slows both. About 0.3 us against
    18 us on the 2-core machine, 0.65 us under full load."""
    value = a_command(traceparent=PARENT)
    decoder = codec(topics.REQUESTS_COMMANDS)
    event = decoder.decode(value)

    def traced() -> None:
        with tracing.consuming("t", 0, 0, event, ()):
            tracing.carrier()

    tracing_s = min(timeit.repeat(traced, number=20_000, repeat=5)) / 20_000
    decoding_s = min(timeit.repeat(lambda: decoder.decode(value), number=2_000, repeat=5)) / 2_000
    assert tracing_s < 0.1 * decoding_s, f"{tracing_s * 1e9:.0f} ns against {decoding_s * 1e9:.0f} ns"


HOSTILE = st.one_of(
    st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1")), st.integers(), st.none(),
    st.booleans(), st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
    st.from_regex(r"\A[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.{0,80})?\Z"),
    st.just("00-" + "0" * 32 + "-" + SPAN + "-01"), st.just(f"ff-{TRACE}-{SPAN}-01"), st.just(PARENT + "x" * 200),
)


@settings(max_examples=300, deadline=None)
@given(traceparent=HOSTILE, tracestate=HOSTILE, header=st.binary(max_size=200))
def test_whatever_a_stranger_puts_in_the_context_the_record_is_handled_and_a_bad_one_is_ignored(
    traceparent: Any, tracestate: Any, header: bytes
) -> None:
    with tracing_on() as exporter:
        out = handled(Record(a_command(traceparent=traceparent, tracestate=tracestate),
                             headers=[("traceparent", header), ("traceparent", b"\xff\x00")]))
    given_text = f"{traceparent} {header.decode('latin-1')}"
    emitted = json.loads(out.value)["traceparent"]
    assert len(emitted) == 55 and tracing.extract(emitted) is not None
    ids = STRICT.fullmatch(traceparent) if isinstance(traceparent, str) else None
    if ids and ids[1] != "0" * 32 and ids[2] != "0" * 16:
        assert emitted.split("-")[1] == ids[1]  # a well-formed one is always continued
    for consumed in (s for s in exporter.get_finished_spans() if s.name.startswith("consume ") and s.parent):
        # continued: then from what it was given, never an invented or all-zero trace
        assert f"{consumed.parent.trace_id:032x}" in given_text and consumed.parent.trace_id != 0
    # (a caller's context whose flags say "not sampled" is carried on, and its decision stands: no span exported)


STRICT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")  # W3C version 00, exactly


@given(st.text(max_size=600))
def test_a_malformed_tracestate_is_dropped_without_a_word_in_the_logs(tracestate: str) -> None:
    logger = logging.getLogger("opentelemetry")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        context = tracing.extract(PARENT, tracestate)
    finally:
        logger.removeHandler(handler)
    assert context is not None and records == []


def test_an_oversized_traceparent_is_ignored_even_when_it_starts_well() -> None:
    assert tracing.extract(PARENT) is not None
    assert tracing.extract(PARENT + "-" + "a" * 100) is None
    assert tracing.extract(f"00-{'0' * 32}-{SPAN}-01") is None  # an all-zero trace id is no trace


def test_a_resumed_span_continues_the_stored_trace_and_links_the_current_one(exported: InMemorySpanExporter) -> None:
    with tracing.span("command"), tracing.resumed(PARENT, "decide RecordCallOutcome"):
        emitted = tracing.current_traceparent()
    resumed, command = named(exported, "decide "), named(exported, "command")
    assert emitted is not None and emitted.split("-")[1] == TRACE
    assert resumed.parent is not None and f"{resumed.parent.span_id:016x}" == SPAN
    assert [f"{link.context.span_id:016x}" for link in resumed.links] == [hex_ids(command)[1]]


def test_nothing_stored_resumes_nothing_unless_a_new_trace_is_asked_for(exported: InMemorySpanExporter) -> None:
    with tracing.resumed(None, "deliver"):
        assert tracing.current_traceparent() is None
    with tracing.resumed("garbage", "fire reminder", or_new=True):
        assert tracing.current_traceparent() is not None
    assert [s.name for s in exported.get_finished_spans()] == ["fire reminder"]


def test_an_outbox_write_continues_its_first_records_trace_and_links_the_others(
    exported: InMemorySpanExporter,
) -> None:
    other = f"00-{'1' * 32}-{'2' * 16}-01"
    records = [OutgoingRecord("t", None, b"", (("traceparent", t),)) for t in (PARENT, other, PARENT)]
    with tracing.writing([*records, OutgoingRecord("t", None, b"")]):
        pass
    write = named(exported, "outbox write")
    assert write.parent is not None and f"{write.parent.trace_id:032x}" == TRACE
    assert [f"{link.context.trace_id:032x}" for link in write.links] == ["1" * 32]
    assert write.attributes is not None and write.attributes["messaging.batch.message_count"] == 4
    with tracing.writing([OutgoingRecord("t", None, b"")]):
        pass
    assert len(exported.get_finished_spans()) == 1  # no context among the records: no span


def test_a_published_record_gets_a_producer_span_under_its_own_context(exported: InMemorySpanExporter) -> None:
    started = tracing.publishing("requests.events", [("content-type", b"x"), ("traceparent", PARENT.encode())])
    tracing.published(started, "too_large")
    assert tracing.publishing("requests.events", [("content-type", b"x")]) is None
    publish = named(exported, "publish requests.events")
    assert publish.kind is SpanKind.PRODUCER and publish.parent is not None
    assert f"{publish.parent.span_id:016x}" == SPAN and not publish.status.is_ok


async def test_an_http_request_is_a_server_span_named_by_its_route_joining_the_callers_trace(
    exported: InMemorySpanExporter,
) -> None:
    app = FastAPI()

    @app.get("/loans/{loan_id}")
    async def loan(loan_id: str) -> dict[str, str]:
        return {"traceparent": tracing.current_traceparent() or ""}

    tracing.instrument(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        joined = (await client.get("/loans/L-0001", headers={"traceparent": PARENT})).json()["traceparent"]
        alone = (await client.get("/loans/L-0002", headers={"traceparent": "nonsense"})).json()["traceparent"]
    first, second = (s for s in exported.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert first.name == second.name == "GET /loans/{loan_id}"
    assert joined.split("-")[1] == TRACE and alone.split("-")[1] != TRACE and second.parent is None
    assert first.attributes is not None and first.attributes["http.response.status_code"] == 200
    assert "L-0001" not in json.dumps([dict(s.attributes or {}) for s in exported.get_finished_spans()])


async def test_a_client_call_carries_its_span_to_the_server(exported: InMemorySpanExporter) -> None:
    seen: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("traceparent", ""))
        return httpx.Response(503)

    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
        with tracing.calling("GET requests", {"http.request.method": "GET"}) as call:
            call.answered((await client.get("http://requests/x", headers=dict(call.headers()))).status_code)
    client_span = named(exported, "GET requests")
    assert client_span.kind is SpanKind.CLIENT and not client_span.status.is_ok
    assert [s.rsplit("-", 1)[0] for s in seen] == [f"00-{hex_ids(client_span)[0]}-{hex_ids(client_span)[1]}"]


def test_a_context_not_sampled_is_carried_on_and_no_span_is_made(exported: InMemorySpanExporter) -> None:
    """The caller did not sample its trace (flags 00): its decision stands, cheaply. No consume, decide, outbox or
    publish span is started, and what the handler emits carries the caller's context on."""
    unsampled = f"00-{TRACE}-{SPAN}-00"
    out = handled(Record(a_command(traceparent=unsampled)))
    with tracing.writing([out]):
        pass
    assert tracing.publishing("requests.events", [("traceparent", unsampled.encode())]) is None
    assert json.loads(out.value)["traceparent"] == unsampled and exported.get_finished_spans() == ()


def test_under_a_context_not_recorded_nothing_is_made_and_every_emitted_context_is_the_one_carried_on(
    exported: InMemorySpanExporter,
) -> None:
    """A trace not recorded (an unsampled caller's; a new one sampled out) is carried without a span or an
    OpenTelemetry context: what happens under it must still behave as under a span not recorded. Internal spans,
    HTTP calls and their headers all carry the same context on, and none is exported."""
    unsampled = f"00-{TRACE}-{SPAN}-00"
    event = codec(topics.REQUESTS_COMMANDS).decode(a_command(traceparent=unsampled))
    with tracing.consuming(topics.REQUESTS_COMMANDS, 0, 1, event, ()) as consumed:
        assert consumed is not None and not consumed.is_recording()
        with tracing.span("inner") as inner, tracing.calling("GET requests") as call:
            assert inner is not None and not inner.is_recording()
            assert call.headers() == {"traceparent": unsampled}
            assert tracing.current_traceparent() == unsampled
        with tracing.deciding("RecordCallOutcome"):
            assert tracing.current_traceparent() == unsampled
    assert tracing.current_traceparent() is None and exported.get_finished_spans() == ()


def test_a_recorded_span_resumed_under_a_context_not_recorded_links_it_and_gives_it_back_after(
    exported: InMemorySpanExporter,
) -> None:
    """A stored trace that is recorded, resumed while an unrecorded one is current (a timer fired in a round that
    no trace records): the resumed span continues its own trace, links the current context, and the current
    context is the carried one again after it."""
    unsampled = f"00-{'5' * 32}-{'6' * 16}-00"
    event = codec(topics.REQUESTS_COMMANDS).decode(a_command(traceparent=unsampled))
    with tracing.consuming(topics.REQUESTS_COMMANDS, 0, 1, event, ()):
        with tracing.resumed(PARENT, "fire reminder"):
            inside = tracing.current_traceparent()
            with tracing.span("inner"):
                nested = tracing.current_traceparent()
        assert tracing.current_traceparent() == unsampled
    fired, inner = named(exported, "fire "), named(exported, "inner")
    assert inside is not None and inside.split("-")[1:3] == [TRACE, hex_ids(fired)[1]]
    assert nested is not None and nested.split("-")[1:3] == [TRACE, hex_ids(inner)[1]]
    assert fired.parent is not None and f"{fired.parent.span_id:016x}" == SPAN
    assert [(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in fired.links] == [
        ("5" * 32, "6" * 16)]


def test_the_carried_context_of_a_trace_sampled_out_stays_the_roots_under_nested_spans() -> None:
    """A new trace sampled out (rate 0): everything under its consume scope carries the root's own context, the
    spans started under it are not recorded, and leaving it leaves no context behind."""
    with contextlib.contextmanager(ratio_sampled)(0.0) as exporter:
        event = codec(topics.REQUESTS_COMMANDS).decode(a_command())
        with tracing.consuming(topics.REQUESTS_COMMANDS, 0, 1, event, ()):
            root = tracing.current_traceparent()
            with tracing.span("inner"), tracing.resumed(None, "fire", or_new=False):
                assert tracing.current_traceparent() == root
        assert tracing.current_traceparent() is None and exporter.get_finished_spans() == ()
    assert root is not None and re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[02]", root)


def an_event(**extensions: Any) -> bytes:
    """A requests.events record (only a service writes that topic), with `extensions` beside the envelope's."""
    approved = R.RequestApproved(request_id="R-1", loan_id="L-1", request_type=R.RequestType.DEBIT_DAY_CHANGE,
                                 approved_at=NOW, policy_version="v1")
    document = json.loads(encode(new_event(approved, source="postloan/requests", subject="L-1", time=NOW)))
    return json.dumps({**document, **extensions}).encode()


def test_a_new_trace_not_recorded_is_kept_with_state_but_not_carried_by_the_records_it_causes() -> None:
    """Nothing recorded (rate 0): a command without a context gets a context of its own for what it stores (a
    task, a delivery) and the calls it makes, and its records go out as if tracing were off: no attribute, no
    header. A command whose caller sent an unsampled context still carries the caller's on."""
    unsampled = f"00-{TRACE}-{SPAN}-00"
    with contextlib.contextmanager(ratio_sampled)(0.0) as exporter:
        out, current = handled_in_context(Record(a_command()))
        carried_on, _ = handled_in_context(Record(a_command(traceparent=unsampled)))
        with tracing.deciding("RecordCallOutcome"):  # a staff command over HTTP, no caller's context
            assert tracing.record_carrier() == {} and tracing.current_traceparent() is not None
            with tracing.span("inner"), tracing.calling("GET requests") as call:
                assert tracing.record_carrier() == {} and call.headers() == {"traceparent": call_header(call)}
        assert exporter.get_finished_spans() == ()
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[02]", current)
    assert "traceparent" not in json.loads(out.value) and dict(out.headers) == {"content-type": CONTENT_TYPE}
    assert out.row()["headers"] == OutgoingRecord.of_event(topics.REQUESTS_EVENTS, new_event(
        COMMAND, source="tests", subject="L-1", time=NOW)).row()["headers"]
    assert json.loads(carried_on.value)["traceparent"] == unsampled


def call_header(call: tracing.Call) -> str:
    found = call.headers().get("traceparent")
    assert found is not None and re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[02]", found)
    return found


def test_a_services_record_without_a_context_starts_no_trace_even_when_every_trace_is_recorded(
    exported: InMemorySpanExporter,
) -> None:
    """Every new trace recorded (the default sampler): a command without a context starts one, but an event that
    a service wrote without one belongs to a trace its writer did not record, so nothing is recorded from the
    middle of it: no span, no context in what it causes, a context not recorded kept for its state. With a
    context it continues that trace as any record does."""
    assert principals.written_by_services(topics.REQUESTS_EVENTS)
    assert not principals.written_by_services(topics.REQUESTS_COMMANDS)
    assert not principals.written_by_services(topics.LOANS_SNAPSHOTS)
    out, current = handled_in_context(Record(an_event()), topics.REQUESTS_EVENTS)
    assert exported.get_finished_spans() == () and "traceparent" not in json.loads(out.value)
    assert not int(current[-2:], 16) & 1  # not sampled
    command_out, _ = handled_in_context(Record(a_command()))
    assert int(json.loads(command_out.value)["traceparent"][-2:], 16) & 1
    assert [s.name for s in exported.get_finished_spans()] == ["decide WithdrawRequest", "consume requests.commands"]
    exported.clear()
    continued, _ = handled_in_context(Record(an_event(traceparent=PARENT)), topics.REQUESTS_EVENTS)
    assert json.loads(continued.value)["traceparent"].split("-")[1] == TRACE
    assert named(exported, "consume requests.events").parent is not None


W3C_TRACEPARENT = r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}"


@given(traceparent=st.one_of(st.text(max_size=60), st.from_regex(W3C_TRACEPARENT, fullmatch=True)),
       tracestate=st.one_of(st.none(), st.text(max_size=80)),
       headers=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=20)), max_size=3))
def test_trace_attributes_written_beside_the_envelope_read_back_as_they_were(
    traceparent: str, tracestate: str | None, headers: list[tuple[str, str]]
) -> None:
    """The emitted record's trace attributes are added to the encoded event and its header JSON without a pass
    through the model or json.dumps of the whole (a traceparent as a tracer writes it is spliced in as it is):
    whatever the text (quotes, backslashes, any character), the value decodes to the same event with the
    attributes, the headers' JSON to the same pairs, and a stored answer gives the same record back."""
    event = new_event(COMMAND, source="tests", subject="L-1", time=NOW)
    carried = {"traceparent": traceparent, **({} if tracestate is None else {"tracestate": tracestate})}
    record = OutgoingRecord.of_event(topics.REQUESTS_EVENTS, event, carried)
    assert json.loads(record.value) == {**json.loads(encode(event)), **carried}
    assert record.headers == (("content-type", CONTENT_TYPE), ("traceparent", traceparent))
    assert json.loads(record.row()["headers"]) == [list(h) for h in record.headers]
    assert outbox.unpack(outbox.pack([record])) == [record]
    pairs = (*headers, ("traceparent", traceparent))
    assert json.loads(OutgoingRecord("t", None, b"", pairs).row()["headers"]) == [list(p) for p in pairs]


@given(trace_id=st.integers(0, 2**128 - 1), span_id=st.integers(0, 2**64 - 1), flags=st.integers(0, 255))
def test_a_traceparent_is_written_as_w3c_says_whatever_the_ids(trace_id: int, span_id: int, flags: int) -> None:
    """Written through bytes for speed, it must be the same text as the plain format, zero-padded; ids out of
    range (no tracer makes them) are still written, as they are."""
    assert tracing._traceparent(trace_id, span_id, flags) == f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"
    too_long = 2**128 + trace_id
    assert tracing._traceparent(too_long, span_id, flags) == f"00-{too_long:x}-{span_id:016x}-{flags:02x}"


@given(seed=st.integers(0, 2**32 - 1))
def test_a_roots_ids_drawn_at_once_are_the_ids_its_traceparent_names(seed: int) -> None:
    """Both ids of a new root come from one draw of random bits: neither id zero, the trace id the draw's high 128
    bits (the bits RandomIdGenerator would have drawn for it); and the traceparent of a root not recorded, written
    only when asked, names those ids with the flags the SDK would give it."""
    random.seed(seed)
    bits = random.getrandbits(192)
    random.seed(seed)
    trace_id, span_id = tracing._root_ids()
    assert (trace_id, span_id) == (bits >> 64, bits & (2**64 - 1))
    assert trace_id and span_id
    with contextlib.contextmanager(ratio_sampled)(0) as exporter:
        random.seed(seed)
        out, current = handled_in_context(Record(a_command()))
    assert current == f"00-{trace_id:032x}-{span_id:016x}-02" and exporter.get_finished_spans() == ()
    assert "traceparent" not in json.loads(out.value)  # a trace not recorded that began here: not in its records


def test_the_relay_reads_a_records_flags_from_the_header_and_gives_anything_else_no_span(
    exported: InMemorySpanExporter
) -> None:
    """Flags are read before the header is decoded: a sampled traceparent gets its span; one not sampled, a value
    that is not text, or no traceparent at all gets none, and nothing fails."""
    assert tracing.publishing("t", [("traceparent", PARENT.encode())]) is not None
    for headers in ([("traceparent", PARENT[:-2].encode() + b"00")], [("traceparent", None)],
                    [("traceparent", 7)], [("traceparent", b"\xff" * 60)], [("other", PARENT.encode())], []):
        assert tracing.publishing("t", headers) is None, headers
    with tracing.writing([OutgoingRecord("t", None, b"", (("traceparent", "x" * 60),))]) as span:
        assert span is None


def test_records_of_traces_in_turn_each_carry_their_own_context() -> None:
    """The attribute and header JSON of the last carrier is kept and looked up by identity: records of two traces
    in turn, and equal text in a new string, each come out with their own context."""
    event = new_event(COMMAND, source="tests", subject="L-1", time=NOW)
    first, second = {"traceparent": PARENT}, {"traceparent": f"00-{'1' * 32}-{'2' * 16}-00"}
    for carried in (first, first, second, first, {"traceparent": "".join(PARENT)}, second):
        record = OutgoingRecord.of_event(topics.REQUESTS_EVENTS, event, carried)
        assert json.loads(record.value)["traceparent"] == carried["traceparent"]
        assert json.loads(record.row()["headers"])[-1] == ["traceparent", carried["traceparent"]]


def ratio_sampled(rate: float, sampler_of: Any = None) -> Iterator[InMemorySpanExporter]:
    """Tracing on with a provider that samples `rate` of new traces (parent-based, as OTEL_TRACES_SAMPLER=
    parentbased_traceidratio), or with the sampler `sampler_of(rate)` gives."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=(sampler_of or (lambda r: ParentBased(TraceIdRatioBased(r))))(rate))
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    tracing.install(provider, processor)
    try:
        yield exporter
    finally:
        tracing.install(None)


@pytest.mark.parametrize("sampler_of", [None, "plain-ratio"])
def test_a_new_trace_is_recorded_exactly_when_the_configured_ratio_sampler_would_record_it(sampler_of: Any) -> None:
    """A command without a context starts a trace; whether it is recorded is decided before the SDK is asked for a
    span, and must be the sampler's own decision on the trace id: every emitted context is checked against the
    SDK's TraceIdRatioBased, the recorded ones have their consume and decide spans on that very trace, the others
    none, and about the rate of them are recorded."""
    from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

    rate, runs = 0.25, 400
    with contextlib.contextmanager(ratio_sampled)(rate, TraceIdRatioBased if sampler_of else None) as exporter:
        handled_ = [handled_in_context(Record(a_command())) for _ in range(runs)]
        spans = exporter.get_finished_spans()
    judge = TraceIdRatioBased(rate)
    recorded = set()
    for out, current in handled_:
        version, trace_id, _, flags = current.split("-")
        wanted = judge.should_sample(None, int(trace_id, 16), "x").decision.is_sampled()
        assert version == "00" and bool(int(flags, 16) & 1) == wanted, current
        # a recorded trace is carried by the records it causes; one not recorded, which began here, is not
        assert json.loads(out.value).get("traceparent") == (current if wanted else None), current
        assert dict(out.headers).get("traceparent") == (current if wanted else None), current
        if wanted:
            recorded.add(trace_id)
    assert len({current for _, current in handled_}) == runs
    assert {hex_ids(s)[0] for s in spans} == recorded
    assert sorted(s.name for s in spans) == sorted(["consume requests.commands", "decide WithdrawRequest"]
                                                   * len(recorded))
    assert 0.15 * runs < len(recorded) < 0.35 * runs  # 0.25 of 400: 100, its standard deviation under 9


def test_a_sampler_it_does_not_know_still_decides_every_new_trace() -> None:
    """A sampler whose decision is not the trace id's alone (here: every other call) is left to decide in the
    SDK, span by span, as before."""
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class EveryOther(Sampler):
        calls = 0

        def should_sample(self, *_: Any, **__: Any) -> SamplingResult:
            EveryOther.calls += 1
            return SamplingResult(Decision.RECORD_AND_SAMPLE if EveryOther.calls % 2 else Decision.DROP)

        def get_description(self) -> str:
            return "every other"

    with contextlib.contextmanager(ratio_sampled)(0, lambda _: EveryOther()) as exporter:
        flags = [json.loads(handled(Record(a_command())).value)["traceparent"][-2:] for _ in range(6)]
        names = [s.name for s in exporter.get_finished_spans()]
    # each consume span is asked first (recorded), its decide child second (dropped, and what the event carries)
    assert EveryOther.calls == 12 and names == ["consume requests.commands"] * 6
    assert [int(f, 16) & 1 for f in flags] == [0] * 6


def _record_path_spans(record: Record, light: bool, failing: bool) -> tuple[str, list[tuple[Any, ...]]]:
    """Every span of one request's record path (a consumed command from a caller whose trace carries a tracestate,
    an HTTP call in its handler, the outbox write of what it emitted with another trace's record, the relay's
    publish of each), made by `shared.tracing` (`light`) or by the SDK; each as what an exporter reads of it, ids
    and times left out but the parent named; and which kind of scope the decision ran in."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "postloan-test"}))
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    tracing.install(provider, processor if light else None)
    try:
        event = codec(record.topic).decode(record.value)
        ctx = MessageContext(None, NOW, "postloan/requests", None, event.id, event)  # type: ignore[arg-type]
        with contextlib.suppress(ValueError), tracing.consuming(record.topic, 0, 7, event, record.headers):
            ctx.emit(topics.REQUESTS_EVENTS, COMMAND, subject="L-1")
            scope = type(tracing._innermost.get()).__name__
            with tracing.calling("GET requests") as call:
                call.answered(200)
            if failing:
                raise ValueError("a handler's failure")
        other = OutgoingRecord("t", None, b"", (("traceparent", f"00-{'1' * 32}-{'2' * 16}-01"),))
        with tracing.writing([*ctx.emitted, other]):
            pass
        for out in ctx.emitted:
            tracing.published(tracing.publishing(topics.REQUESTS_EVENTS, outbox.kafka_headers(out.headers)), None)
    finally:
        tracing.install(None)
    spans = exporter.get_finished_spans()
    names = {s.context.span_id: s.name for s in spans if s.context is not None}

    def parent(s: Any) -> str | None:
        return None if s.parent is None else names.get(s.parent.span_id, f"{s.parent.span_id:016x}")

    return scope, [(s.name, s.kind, parent(s), s.parent and s.parent.is_remote, f"{s.context.trace_id:032x}",
             int(s.context.trace_flags), s.context.trace_state.to_header(), s.context.is_remote, dict(s.attributes),
             [(f"{link.context.trace_id:032x}", dict(link.attributes or {})) for link in s.links], s.status.status_code,
             s.status.description, s.resource.attributes.get("service.name"), s.instrumentation_scope,
             s.end_time is not None and s.start_time is not None and s.end_time >= s.start_time)
            for s in spans]


@pytest.mark.parametrize("failing", [False, True])
def test_the_record_paths_spans_made_here_are_those_the_sdk_makes(failing: bool) -> None:
    """The consume, decide, outbox write and publish spans are made by `shared.tracing` (`_Recorded`), not by the
    SDK: an exporter must read the same of them, their tree, trace state, flags, attributes, links, status,
    resource and scope, as of the SDK's, and a span the SDK starts under one (an HTTP call) joins it the same."""
    record = Record(a_command(traceparent=PARENT, tracestate="congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"))
    (made_here, light), (made_by_sdk, sdk) = (_record_path_spans(record, True, failing),
                                              _record_path_spans(record, False, failing))
    assert (made_here, made_by_sdk) == ("_Recorded", "_Scope")
    assert light == sdk
    assert [name for name, *_ in light] == ["GET requests", "decide WithdrawRequest", "consume requests.commands",
                                           "outbox write", "publish requests.events"]
    consume = light[2]
    assert consume[2] == SPAN and consume[3] is True and consume[6] == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
    assert (consume[10].name, consume[11]) == (("ERROR", "ValueError") if failing else ("UNSET", None))


@pytest.mark.parametrize("light", [True, False])
def test_a_providers_own_id_generator_gives_each_new_roots_ids_whether_recorded_or_not(light: bool) -> None:
    """An id generator other than the SDK's random one is asked for each id (no draw of both at once): a root not
    recorded carries the generator's trace id and next span id, and a recorded root's spans are on the trace id
    the decision was taken on, made by the SDK or by `shared.tracing` (`light`)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    class Counting(IdGenerator):
        def __init__(self) -> None:
            self.trace_ids, self.span_ids = iter(range(1 << 100, (1 << 100) + 99)), iter(range(1 << 40, 1 << 41))

        def generate_trace_id(self) -> int:
            return next(self.trace_ids)

        def generate_span_id(self) -> int:
            return next(self.span_ids)

    for rate in (0.0, 1.0):
        exporter = InMemorySpanExporter()
        provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(rate)), id_generator=Counting())
        processor = SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        tracing.install(provider, processor if light else None)
        try:
            currents = [handled_in_context(Record(a_command()))[1] for _ in range(3)]
        finally:
            tracing.install(None)
        trace_ids = [f"{(1 << 100) + i:032x}" for i in range(3)]
        assert [c.split("-")[1] for c in currents] == trace_ids, (rate, currents)
        if rate == 0.0:
            spans = [f"{(1 << 40) + i:016x}" for i in range(3)]
            assert currents == [f"00-{t}-{s}-00" for t, s in zip(trace_ids, spans, strict=True)]
            assert exporter.get_finished_spans() == ()
        else:
            assert sorted(hex_ids(s)[0] for s in exporter.get_finished_spans()) == sorted(trace_ids * 2)
            assert all(c.endswith("-01") for c in currents)
