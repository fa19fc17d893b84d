"""OpenTelemetry traces: one customer's request is one trace across the services.

The W3C trace context travels in each CloudEvent (the CloudEvents distributed-tracing extension: `traceparent`,
and `tracestate` when there is one) and in the Kafka record's `traceparent` header. Spans are exported over
OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`setup`, once per process; the other OTEL_* variables, e.g.
OTEL_BSP_SCHEDULE_DELAY, are the SDK's). Otherwise tracing is off at no cost: every function here returns at once
(a shared null context, no span, nothing written into events).

A trace context read from a record or a request is a stranger's: anything but a valid W3C value of bounded size is
ignored (a new trace starts); it never fails, never dead-letters a record. Spans carry ids (loans, requests,
tasks, events) and never personal data (names, phones, ID numbers), nor an exception's message (it may quote
input): a failed span's status names the exception's type only.
"""

import contextlib
import functools
import os
import random
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    INVALID_SPAN,
    Link,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    TraceState,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from shared import principals

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.id_generator import IdGenerator

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACEPARENT, TRACESTATE = "traceparent", "tracestate"
MAX_TRACEPARENT = 128  # the contract's identifier bound
TRACEPARENT_LENGTH = 55  # a version-00 traceparent: "00-" 32 hex "-" 16 hex "-" 2 hex
MAX_TRACESTATE = 512  # W3C: at most 32 list members, and 512 characters is what a propagator must keep
MAX_LINKS = 32  # an outbox write of many traces links at most this many of them

# W3C trace-context list members (key=value), checked before the SDK sees them: its parser logs a stranger's
# text at WARNING when it refuses it, and a log is no place for it.
_MEMBER = re.compile(r"([a-z][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})"
                     r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]")

_W3C = TraceContextTextMapPropagator()
_OFF: AbstractContextManager[None] = contextlib.nullcontext()  # reusable and re-entrant: one for every call
_NO_CARRIER: Mapping[str, str] = {}
_tracer: Tracer | None = None  # None: tracing is off
Attributes = Mapping[str, AttributeValue]


def setup(service: str) -> bool:
    """Installs the process's tracer provider when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (and OTEL_SDK_DISABLED is
    not true): resource `service.name=postloan-<service>`, a batch span processor and the OTLP/HTTP exporter, which
    read the standard OTEL_* variables. Once per process; returns whether tracing is on."""
    if _tracer is not None:
        return True
    if not os.environ.get(ENDPOINT, "").strip() or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    # Imported here: a process without an endpoint never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"postloan-{service}",
                                                        "service.namespace": "postloan"}))
    processor = BatchSpanProcessor(OTLPSpanExporter())
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)  # for any library that traces through the global API
    install(provider, processor)
    return True


def install(provider: "TracerProvider | None", processor: "SpanProcessor | None" = None) -> None:
    """Traces with `provider` from now on (None: off). `setup` calls it; tests give an in-memory provider. With
    `processor`, the one span processor the provider was given, the spans of the record path are made here
    (`_Recorded`) and handed to it as they end, when the sampler's decisions can be taken here (`_Roots`, with
    `follows_parent`); otherwise the SDK makes them all."""
    global _tracer, _roots, _sink
    if provider is None:
        _tracer = _roots = _sink = None
        return
    if not isinstance(provider.id_generator, _PresetIds):  # before get_tracer: a tracer keeps the generator
        provider.id_generator = _PresetIds(provider.id_generator)  # type: ignore[assignment]
    _roots = _Roots.of(provider.sampler, provider.id_generator)  # type: ignore[arg-type]
    _sink = (_Sink(processor, provider.resource)
             if _roots is not None and _roots.follows_parent and processor is not None else None)
    _tracer = provider.get_tracer("postloan")


# --- roots: the sampling decision taken before the SDK is asked for a span ---------------------------------------

class _PresetIds:
    """The provider's id generator, but the next trace id can be given: a root that `_Roots` chose to record keeps
    the trace id the choice was made on when the SDK starts its span."""

    __slots__ = ("inner", "next")

    def __init__(self, inner: "IdGenerator") -> None:
        self.inner: IdGenerator = inner
        self.next: int | None = None

    def generate_trace_id(self) -> int:
        preset, self.next = self.next, None
        return self.inner.generate_trace_id() if preset is None else preset

    def generate_span_id(self) -> int:
        return self.inner.generate_span_id()

    def is_trace_id_random(self) -> bool:
        return self.inner.is_trace_id_random()


class _Roots:
    """Most commands arrive without a trace context and most of them are not recorded (a ratio sampler, say 1 %).
    The SDK would still make a span object, a sampling result and a context for each: some 20 µs on a request of
    a few hundred. For the samplers whose decision on a root depends on the trace id alone (the ratio, always on,
    always off; parent-based or not) the decision is taken here, as the sampler takes it, and a root not recorded
    is a bare context: the same trace and flags the SDK would give it, no span object. Other samplers decide in the
    SDK as before (`of` gives None)."""

    __slots__ = ("bound", "draw", "follows_parent", "ids", "random_flag")

    def __init__(self, bound: int, ids: _PresetIds, follows_parent: bool) -> None:
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

        self.bound, self.ids = bound, ids
        # Whether a span under a recorded parent is always recorded (and gets its parent's trace state, and no
        # attributes from the sampler): the parent-based samplers with their defaults for sampled parents.
        self.follows_parent = follows_parent
        self.random_flag = TraceFlags.RANDOM_TRACE_ID if ids.is_trace_id_random() else 0
        # The SDK's own generator draws each id from `random.getrandbits`: both ids of a root are drawn at once, as
        # one number (`_root_ids`); any other generator is asked for each.
        self.draw = type(ids.inner) is RandomIdGenerator

    @staticmethod
    def of(sampler: Any, ids: _PresetIds) -> "_Roots | None":
        from opentelemetry.sdk.trace import sampling

        root, follows_parent = sampler, sampler is sampling.ALWAYS_ON
        if isinstance(sampler, sampling.ParentBased):
            unsampled = (sampler._remote_parent_not_sampled, sampler._local_parent_not_sampled)
            if any(s is not sampling.ALWAYS_OFF for s in unsampled):
                return None  # children of a trace not recorded may be: `_sampled` would be wrong too
            sampled = (sampler._remote_parent_sampled, sampler._local_parent_sampled)
            root, follows_parent = sampler._root, all(s is sampling.ALWAYS_ON for s in sampled)
        if isinstance(root, sampling.TraceIdRatioBased):
            return _Roots(root.bound, ids, follows_parent)
        if root is sampling.ALWAYS_ON or root is sampling.ALWAYS_OFF:
            limit = sampling.TraceIdRatioBased.TRACE_ID_LIMIT + 1 if root is sampling.ALWAYS_ON else 0
            return _Roots(limit, ids, follows_parent)
        return None

    def start(self, tracer: Tracer, name: str, kind: SpanKind, links: Sequence[Link] = ()) -> "Span | _Bare":
        """The SDK's span of a root to record; or else the bare scope of a root not recorded (`_decide`)."""
        decided = self._decide()
        if isinstance(decided, _Bare):
            return decided
        return self._recorded_root(tracer, name, kind, links, decided[0])

    def start_light(self, kind: SpanKind) -> "_Recorded | _Bare":
        """`start` for the record path (`_sink` set): a root to record is made here (`_Recorded`, named by the
        caller: most roots are not recorded, and need no name), on the ids drawn for the decision."""
        decided = self._decide()
        if isinstance(decided, _Bare):
            return decided
        trace_id, span_id = decided
        return _Recorded("", kind, trace_id, span_id or self.ids.inner.generate_span_id(),
                         TraceFlags.SAMPLED | self.random_flag, None, None)

    def _recorded_root(self, tracer: Tracer, name: str, kind: SpanKind, links: Sequence[Link],
                       trace_id: int) -> Span:
        """The SDK starts a root to record on the very trace id the decision was taken on."""
        self.ids.next = trace_id
        try:
            return tracer.start_span(name, context=Context(), kind=kind, links=links, record_exception=False,
                                     set_status_on_exception=False)
        finally:
            self.ids.next = None  # taken, or (a tracer disabled by its configurator) never to be

    def unrecorded(self) -> "_Bare":
        """The bare scope of a trace not recorded, on new ids, whatever the sampler would say of them: for work
        that belongs to a trace its writer did not record (`consuming`)."""
        return cast(_Bare, self._decide(recordable=False))

    def _decide(self, recordable: bool = True) -> "_Bare | tuple[int, int]":
        """A new root's decision, on a new trace id: the ids to record it on (the span id 0 when the generator
        is asked for each id: made when needed), or else the bare scope of a root not recorded, whose context is
        carried where state is kept or a call is made (`carrier`, which writes its traceparent only then: most
        such requests never ask), never in the records it causes (`record_carrier`). One call on the path of
        most commands: the draw (`_root_ids`, inline) and the bare scope are made here."""
        if self.draw:
            bits = random.getrandbits(192)
            trace_id, span_id = bits >> 64, bits & _TRACE_ID_LIMIT
            if not trace_id or not span_id:  # one draw in 2**64
                trace_id, span_id = _root_ids()
        else:
            trace_id, span_id = self.ids.inner.generate_trace_id(), 0
        if recordable and trace_id & _TRACE_ID_LIMIT < self.bound:
            return trace_id, span_id
        return _Bare(trace_id, span_id or self.ids.inner.generate_span_id(), self.random_flag, None, None,
                     _NO_CARRIER)


def _root_ids() -> tuple[int, int]:
    """A new root's trace id and span id as RandomIdGenerator draws them (random.getrandbits; never zero): one draw
    of 192 bits for both, on every command that arrives without a context."""
    bits = random.getrandbits(192)
    trace_id, span_id = bits >> 64, bits & _TRACE_ID_LIMIT
    if not trace_id or not span_id:  # one draw in 2**64: drawn again, as the SDK's generator does
        return _root_ids()
    return trace_id, span_id


_TRACE_ID_LIMIT = (1 << 64) - 1  # the ratio sampler's mask on a trace id (and a span id's bits)
_roots: _Roots | None = None


def enabled() -> bool:
    return _tracer is not None


# --- the trace context in and out of records -------------------------------------------------------------------

def extract(traceparent: object, tracestate: object = None) -> Context | None:
    """The trace context of a traceparent (and tracestate) from a record or a request, or None when it is not a
    valid, bounded W3C value (then a new trace starts). Never raises, whatever it is given."""
    if not isinstance(traceparent, str) or len(traceparent) > MAX_TRACEPARENT:
        return None
    return _parsed(traceparent, tracestate if isinstance(tracestate, str) and _valid_tracestate(tracestate) else None)


@functools.lru_cache(maxsize=1024)  # the relay meets each context again (a row per event of a decision)
def _parsed(traceparent: str, tracestate: str | None) -> Context | None:
    carrier = {TRACEPARENT: traceparent} if tracestate is None else {TRACEPARENT: traceparent, TRACESTATE: tracestate}
    try:
        context = _W3C.extract(carrier, context=Context())
    except Exception:  # the propagator's promise is not ours to stake a record on
        return None
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def _valid_tracestate(value: str) -> bool:
    """W3C tracestate: 1 to 32 list members `key=value`, keys unique, 512 characters at most."""
    if len(value) > MAX_TRACESTATE:
        return False
    members = [m.strip(" \t") for m in value.split(",")]
    members = [m for m in members if m]
    keys = [m.split("=", 1)[0] for m in members]
    return (0 < len(members) <= 32 and len(set(keys)) == len(keys)
            and all(_MEMBER.fullmatch(m) is not None for m in members))


def _header(headers: Iterable[Sequence[Any]], name: str | bytes) -> str | None:
    """The first `name` header's value as text (Kafka's are bytes, ASGI's names too, the outbox's text), or None
    when absent, too long or not ASCII."""
    for key, value in headers or ():
        if key == name and isinstance(value, bytes | str) and len(value) <= MAX_TRACESTATE:
            try:
                return value.decode("ascii") if isinstance(value, bytes) else value
            except UnicodeDecodeError:
                return None
    return None


def _sampled(context: Context) -> bool:
    """Whether a context's trace is being recorded. Spans under one that is not are not even started: the SDK's
    samplers are parent-based by default (and by OTEL_TRACES_SAMPLER=parentbased_*), so they would drop them, at
    the price of making them. At a high rate, sampling (say parentbased_traceidratio) then costs next to nothing."""
    return trace.get_current_span(context).get_span_context().trace_flags.sampled


_SAMPLED_FLAGS = frozenset(f"{flags:02x}" for flags in range(1, 256, 2))
_SAMPLED_FLAGS_BYTES = frozenset(flags.encode() for flags in _SAMPLED_FLAGS)
_FLAGS_AT = slice(TRACEPARENT_LENGTH - 2, TRACEPARENT_LENGTH)  # a traceparent's last two characters


def _flagged(traceparent: object) -> bool:
    """Whether a traceparent's flags say "sampled", read from the text (or a Kafka header's bytes): the outbox and
    the relay skip the records of traces not recorded without parsing or decoding them (`_sampled`)."""
    if isinstance(traceparent, str):
        return traceparent[_FLAGS_AT] in _SAMPLED_FLAGS
    return isinstance(traceparent, bytes) and traceparent[_FLAGS_AT] in _SAMPLED_FLAGS_BYTES


def carrier() -> Mapping[str, str]:
    """The current span's context as CloudEvent attributes (`traceparent`, and `tracestate` when not empty); empty
    when tracing is off or no span is current."""
    if _tracer is None:
        return _NO_CARRIER
    scope = _innermost.get()
    if scope is not None:  # a span of ours: its carrier is worked out once, however many events it emits
        if scope.carried is None:
            scope.carried = _carrier_of_context(scope.span_context())
        return scope.carried
    return _carrier_of_span(trace.get_current_span())


def _carrier_of_span(span: Span) -> Mapping[str, str]:
    return _carrier_of_context(span.get_span_context())


def _carrier_of_context(current: SpanContext) -> Mapping[str, str]:
    if not current.is_valid:
        return _NO_CARRIER
    if current.trace_state:
        return {**_carrier_of(current.trace_id, current.span_id, current.trace_flags),
                TRACESTATE: current.trace_state.to_header()}
    return _carrier_of(current.trace_id, current.span_id, current.trace_flags)


@functools.lru_cache(maxsize=256)  # a decision emits several events in the same span (callers never change it)
def _carrier_of(trace_id: int, span_id: int, flags: int) -> Mapping[str, str]:
    return {TRACEPARENT: _traceparent(trace_id, span_id, flags)}


def _traceparent(trace_id: int, span_id: int, flags: int) -> str:
    """A W3C version-00 traceparent of the ids and flags. Written through bytes: a format spec on a 128-bit int
    costs several times as much, and every command without a context has a traceparent made for it."""
    try:
        return f"00-{trace_id.to_bytes(16).hex()}-{span_id.to_bytes(8).hex()}-{_FLAGS[flags]}"
    except (OverflowError, IndexError):  # not an id a tracer makes: written as it is
        return f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"


_FLAGS = tuple(f"{flags:02x}" for flags in range(256))


def record_carrier() -> Mapping[str, str]:
    """What an emitted record carries of the current trace: `carrier()`, except under a trace not recorded that
    started in this process (a new trace sampled out, or the unrecorded scope of a record that services wrote
    without a context): nothing, as when tracing is off. Whoever consumes such a record treats it as part of a
    trace not recorded (`consuming`), which is what its context would have told them, and the 99 % of requests a
    1 % sampler does not record cost their records, the outbox and the relay nothing. A context that came from
    outside (an unsampled caller's) is carried on: its trace is not ours to cut."""
    if _tracer is None:
        return _NO_CARRIER
    scope = _innermost.get()
    if isinstance(scope, _Bare):
        return scope.in_records
    return carrier()


def current_traceparent() -> str | None:
    """The current span's traceparent, to store with state that a later message continues (a task, a delivery)."""
    return carrier().get(TRACEPARENT)


# --- spans ---------------------------------------------------------------------------------------------------------

class _Scope:
    """A started span made current for a block, ended after it; a failure sets its status to the exception's type,
    never its message. `then` (a tracer and a name) opens a child span inside it for the same block. A class, not a
    generator: it is on every consumed record's path."""

    __slots__ = ("_inner", "_innermost_token", "_then", "_token", "carried", "span")

    def __init__(self, started: Span, then: tuple[Tracer, str] | None = None,
                 carried: Mapping[str, str] | None = None) -> None:
        self.span, self._then = started, then
        self._inner: _Scope | None = None
        self.carried = carried  # `carrier()` of this span, once asked

    def __enter__(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        self._innermost_token = _innermost.set(self)
        if self._then is not None:
            tracer, name = self._then
            self._inner = _Scope(tracer.start_span(name))
            self._inner.__enter__()
        return self.span

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._inner is not None:
            self._inner.__exit__(kind)
        if kind is not None:
            self.span.set_status(Status(StatusCode.ERROR, kind.__name__))
        _innermost.reset(self._innermost_token)
        otel_context.detach(self._token)
        self.span.end()

    def span_context(self) -> SpanContext:
        return self.span.get_span_context()


class _Bare:
    """The scope of a span not recorded (a new trace sampled out, or one carried on from a record whose trace is
    not recorded): its context is made current for this module only (`_innermost`), with no span object and no
    OpenTelemetry context, which cost more than the rest of the request's tracing together. What is asked of it
    inside the block finds it there: `carrier()` its carried context (`record_carrier()` too, unless the trace
    started here, in `_Roots`: then nothing), a span started under it is bare too (a trace not recorded stays so
    under the samplers `_Roots` stands for, and `consuming` carries an unsampled one on), and
    `_current_span_context()` builds its span context when a link asks. Entered, it gives a span that records
    nothing."""

    __slots__ = ("_token", "carried", "flags", "in_records", "span_id", "state", "trace_id")

    def __init__(self, trace_id: int, span_id: int, flags: int, state: TraceState | None,
                 carried: Mapping[str, str] | None, in_records: Mapping[str, str]) -> None:
        self.trace_id, self.span_id, self.flags, self.state = trace_id, span_id, flags, state
        self.carried = carried  # `carrier()` under it (None: worked out when first asked)
        self.in_records = in_records  # `record_carrier()` under it

    @classmethod
    def of(cls, context: SpanContext) -> "_Bare":
        carried = _carrier_of_context(context)
        return cls(context.trace_id, context.span_id, context.trace_flags, context.trace_state, carried, carried)

    def child(self) -> "_Bare":
        return _Bare(self.trace_id, self.span_id, self.flags, self.state, self.carried, self.in_records)

    def span_context(self) -> SpanContext:
        return SpanContext(self.trace_id, self.span_id, is_remote=False, trace_flags=TraceFlags(self.flags),
                           trace_state=self.state)

    def __enter__(self) -> Span:
        self._token = _innermost.set(self)
        return INVALID_SPAN

    def __exit__(self, *_: object) -> None:
        _innermost.reset(self._token)


class _Recorded:
    """A recorded span of the record path (consume and decide, outbox write, relay publish), made here rather than
    by the SDK: its ids, times, attributes and links in slots, made current for this module only (`_innermost`, as
    a bare scope), handed to the span processor as the SDK's own ReadableSpan when it ends (`_Sink`). The SDK's
    span carries locks, bounded collections, a sampling result and an OpenTelemetry context, and made for one
    record in a hundred its calls ran three to four times slower than in a warm loop (bench/README.md, issue 14's
    thirteenth measurement: a recorded request's spans cost half the instructions now). What the SDK would have
    decided is decided the same (`_Roots`: roots; `follows_parent`: under a recorded parent); a span started under
    it by the SDK (an HTTP call in a handler) is its child (`_started`). Entered, it gives None."""

    __slots__ = ("_inner", "_token", "attributes", "carried", "flags", "kind", "links", "name", "parent", "span_id",
                 "start", "state", "status", "then", "trace_id")

    def __init__(self, name: str, kind: SpanKind, trace_id: int, span_id: int, flags: int, state: TraceState | None,
                 parent: SpanContext | None, links: Sequence[Link] = (), attributes: Attributes | None = None,
                 then: str | None = None) -> None:
        self.name, self.kind, self.trace_id, self.span_id, self.flags = name, kind, trace_id, span_id, flags
        self.state, self.parent, self.links, self.attributes = state, parent, links, attributes
        self.status: Status | None = None
        self.carried: Mapping[str, str] | None = None
        self.then = then  # the name of a child made current inside it for the block (consume: decide)
        self._inner: _Recorded | None = None
        self.start = time.time_ns()

    @classmethod
    def under(cls, parent: SpanContext, name: str, kind: SpanKind = SpanKind.INTERNAL, links: Sequence[Link] = (),
              attributes: Attributes | None = None, then: str | None = None) -> "_Recorded":
        """A span under a recorded parent: its trace, its trace state, and of its flags the random-id one."""
        assert _roots is not None  # (with `_sink`, always)
        return cls(name, kind, parent.trace_id, _roots.ids.generate_span_id(),
                   TraceFlags.SAMPLED | (parent.trace_flags & TraceFlags.RANDOM_TRACE_ID), parent.trace_state, parent,
                   links, attributes, then)

    def span_context(self) -> SpanContext:
        return SpanContext(self.trace_id, self.span_id, is_remote=False, trace_flags=TraceFlags(self.flags),
                           trace_state=self.state)

    def parent_context(self) -> Context:
        """An OpenTelemetry context with this span as the parent, for a span the SDK starts under it."""
        return trace.set_span_in_context(trace.NonRecordingSpan(self.span_context()), Context())

    def __enter__(self) -> None:
        self._token = _innermost.set(self)
        if self.then is not None:
            self._inner = _Recorded.under(self.span_context(), self.then)
            self._inner.__enter__()

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._inner is not None:
            self._inner.__exit__(kind)
        if kind is not None:
            self.status = Status(StatusCode.ERROR, kind.__name__)
        _innermost.reset(self._token)
        self.end()

    def set_status(self, status: Status) -> None:
        self.status = status

    def end(self) -> None:
        if _sink is not None:  # (tracing turned off meanwhile: a test's)
            _sink.ended(self, time.time_ns())


class _Sink:
    """Where a `_Recorded` span goes when it ends: the provider's span processor, as the SDK's ReadableSpan with the
    provider's resource and this module's instrumentation scope (what the SDK's tracer gives its spans)."""

    __slots__ = ("processor", "readable", "resource", "scope")

    def __init__(self, processor: "SpanProcessor", resource: "Resource") -> None:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self.processor, self.resource, self.readable = processor, resource, ReadableSpan
        self.scope = InstrumentationScope("postloan", "", "")  # as the SDK tracer's

    def ended(self, span: _Recorded, end: int) -> None:
        self.processor.on_end(self.readable(
            span.name, context=span.span_context(), parent=span.parent, resource=self.resource,
            attributes=span.attributes, links=span.links, kind=span.kind, status=span.status or _UNSET,
            start_time=span.start, end_time=end, instrumentation_scope=self.scope))


_UNSET = Status(StatusCode.UNSET)
Publishing = Span | _Recorded  # a publish span `publishing` started, for `published` to end
_sink: _Sink | None = None
_innermost: ContextVar[_Scope | _Bare | _Recorded | None] = ContextVar("postloan_tracing_scope", default=None)


def _current_span_context() -> SpanContext:
    """The current span's context: a scope's of this module, or else OpenTelemetry's current span's."""
    scope = _innermost.get()
    return trace.get_current_span().get_span_context() if scope is None else scope.span_context()


def _started(tracer: Tracer, name: str, kind: SpanKind, parent: Context | None,
             links: Sequence[Link] = ()) -> "Span | _Bare":
    """A span under `parent` (None: the current context). A new trace's is decided by `_roots` when it can: a root
    not recorded comes back as its bare scope, and so does a span under a current bare scope."""
    if parent is None and (scope := _innermost.get()) is not None:
        if isinstance(scope, _Bare):
            return scope.child()
        if isinstance(scope, _Recorded):  # not an OpenTelemetry context of its own: the SDK is told
            parent = scope.parent_context()
    if _roots is not None and not trace.get_current_span(parent).get_span_context().is_valid:
        return _roots.start(tracer, name, kind, links)
    return tracer.start_span(name, context=parent, kind=kind, links=links, record_exception=False,
                             set_status_on_exception=False)


def _scope(tracer: Tracer, name: str, *, kind: SpanKind = SpanKind.INTERNAL, parent: Context | None = None,
           links: Sequence[Link] = (), attributes: Attributes | None = None) -> "_Scope | _Bare":
    started = _started(tracer, name, kind, parent, links)
    if isinstance(started, _Bare):
        return started
    if attributes and started.is_recording():
        started.set_attributes(attributes)
    return _Scope(started)


def span(name: str, attributes: Attributes | None = None) -> AbstractContextManager[Span | None]:
    """An internal span, child of the current one, for the block."""
    if _tracer is None:
        return _OFF
    return _scope(_tracer, name, attributes=attributes)


def consuming(topic: str, partition: int, offset: int, event: Any,
              headers: Iterable[Sequence[Any]] = ()) -> AbstractContextManager[Span | None]:
    """Handling one consumed record: a CONSUMER span `consume <topic>` whose parent is the record's trace context
    (a new trace when it has none), and inside it the current span `decide <type>`, so what the handler emits
    carries the decision's context. A record on a topic only services write (`principals.written_by_services`)
    that carries no context belongs to a trace not recorded (`record_carrier`): it starts none of its own, which
    would record a fragment of a customer's request from the middle on."""
    if _tracer is None:
        return _OFF
    # The record's trace context: its CloudEvent's `traceparent` / `tracestate` attributes (its `model_extra`,
    # without the property's call), or else its Kafka `traceparent` header; None when neither holds a valid one.
    # Inline: most commands carry neither, and this is every consumed record's path.
    extensions, parent = event.__pydantic_extra__, None
    if extensions:
        parent = extract(extensions.get(TRACEPARENT), extensions.get(TRACESTATE))
    if parent is None:
        for key, _ in headers or ():
            if key == TRACEPARENT:
                parent = extract(_header(headers, TRACEPARENT))
                break
    if parent is not None and not _sampled(parent):
        carried_on = trace.get_current_span(parent)  # no span made (see `_sampled`); what is under it neither
        return _Scope(carried_on) if _roots is None else _Bare.of(carried_on.get_span_context())
    if parent is None and _roots is not None:  # most commands: a new trace, decided without an OpenTelemetry context
        if principals.written_by_services(topic):
            return _roots.unrecorded()
        consumed = _roots.start(_tracer, f"consume {topic}", SpanKind.CONSUMER) if _sink is None else (
            _roots.start_light(SpanKind.CONSUMER))
    elif parent is not None and _sink is not None:  # a recorded trace: recorded here too
        consumed = _Recorded.under(trace.get_current_span(parent).get_span_context(), "", SpanKind.CONSUMER)
    else:
        consumed = _started(_tracer, f"consume {topic}", SpanKind.CONSUMER, parent or Context())
    if isinstance(consumed, _Bare):
        return consumed
    attributes = {
        "messaging.system": "kafka", "messaging.destination.name": topic,
        "messaging.destination.partition.id": str(partition), "messaging.kafka.offset": offset,
        "messaging.message.id": event.id, "cloudevents.event_type": event.type,
        "cloudevents.event_subject": event.subject or "",
    }
    if isinstance(consumed, _Recorded):
        consumed.name, consumed.attributes, consumed.then = f"consume {topic}", attributes, f"decide {event.type}"
        return consumed
    if not consumed.is_recording():  # sampled out here: its context is carried on, nothing more is made
        return _Scope(consumed)
    consumed.set_attributes(attributes)
    return _Scope(consumed, then=(_tracer, f"decide {event.type}"))


def deciding(message_type: str) -> AbstractContextManager[Span | None]:
    """A `decide <type>` span for a message that did not come from Kafka (a staff command over HTTP)."""
    return span(f"decide {message_type}")


def resumed(traceparent: object, name: str, *, or_new: bool = False,
            attributes: Attributes | None = None) -> AbstractContextManager[Span | None]:
    """A span continuing the trace stored with some state when later work acts on it (the request's, kept with its
    call task; the causing event's, kept with a delivery or a timer): its parent is `traceparent`, and the span
    current now (the command or the round that brought the work) is linked. Without a valid stored context:
    nothing, or with `or_new` a span starting a trace of its own."""
    if _tracer is None:
        return _OFF
    parent = extract(traceparent)
    if parent is None and not or_new:
        return _OFF
    now = _current_span_context()
    links = [Link(now)] if now.is_valid else []
    return _scope(_tracer, name, parent=parent or Context(), links=links, attributes=attributes)


def writing(records: Sequence[Any]) -> AbstractContextManager[Span | None]:
    """One write of a batch of records (the outbox's, each with its `headers`): parented by the first record's
    trace context, linked to the others' (a batch may serve several traces). No span when none carries one."""
    if _tracer is None:
        return _OFF
    # Read straight from the outbox's own header pairs (text): this runs over every record of every batch.
    found: dict[str, None] = {}
    for record in records:
        for key, value in record.headers:  # `_flagged` of text, inline
            if key == TRACEPARENT and isinstance(value, str) and value[_FLAGS_AT] in _SAMPLED_FLAGS:
                found[value] = None
    if not found:  # most batches: no record of a trace recorded
        return _OFF
    contexts = [c for c in map(extract, found) if c is not None]
    if not contexts:
        return _OFF
    links = [Link(trace.get_current_span(c).get_span_context()) for c in contexts[1:MAX_LINKS + 1]]
    attributes = {"messaging.batch.message_count": len(records)}
    if _sink is not None:  # the first context's flags say recorded (`_flagged`)
        return _Recorded.under(trace.get_current_span(contexts[0]).get_span_context(), "outbox write",
                               links=links, attributes=attributes)
    return _scope(_tracer, "outbox write", parent=contexts[0], links=links, attributes=attributes)


def publishing(topic: str, headers: Sequence[Sequence[Any]]) -> Publishing | None:
    """A PRODUCER span `publish <topic>` for one record the relay sends, parented by the context in the record's
    `traceparent` header; the caller ends it when the broker answered (`published`). None (no span at all) when
    tracing is off or the record carries no context: the relay sends thousands of records a second."""
    if _tracer is None:
        return None
    for key, value in headers:  # the flags are read before anything is decoded or parsed (`_flagged`, inline)
        if key == TRACEPARENT:
            if not (value[_FLAGS_AT] in _SAMPLED_FLAGS_BYTES if isinstance(value, bytes) else _flagged(value)):
                return None
            break
    else:
        return None
    parent = extract(_header(headers, TRACEPARENT))
    if parent is None:
        return None
    attributes = {"messaging.system": "kafka", "messaging.destination.name": topic}
    if _sink is not None:
        return _Recorded.under(trace.get_current_span(parent).get_span_context(), f"publish {topic}",
                               SpanKind.PRODUCER, attributes=attributes)
    started = _tracer.start_span(f"publish {topic}", context=parent, kind=SpanKind.PRODUCER)
    if started.is_recording():
        started.set_attributes(attributes)
    return started


def published(started: Publishing | None, error: BaseException | str | None) -> None:
    """Ends a `publishing` span: `error` is the refusal or failure, None when the broker took the record."""
    if started is None:
        return
    if error is not None:
        started.set_status(Status(StatusCode.ERROR, error if isinstance(error, str) else type(error).__name__))
    started.end()


# --- HTTP ----------------------------------------------------------------------------------------------------------

class Call:
    """A CLIENT span's handle: the headers that carry it to the server, and the answer's status."""

    def __init__(self, opened: Span | None) -> None:
        self._span = opened

    def headers(self) -> Mapping[str, str]:
        return carrier() if self._span is not None else _NO_CARRIER

    def answered(self, status: int) -> None:
        if self._span is not None and self._span.is_recording():
            self._span.set_attribute("http.response.status_code", status)
            if status >= 500:
                self._span.set_status(Status(StatusCode.ERROR, str(status)))


_NO_CALL = Call(None)
_OFF_CALL: AbstractContextManager[Call] = contextlib.nullcontext(_NO_CALL)


def calling(name: str, attributes: Attributes | None = None) -> AbstractContextManager[Call]:
    """A CLIENT span `name` (`<METHOD> <service>`, `POST <channel> gateway`) around an outgoing HTTP call, child of
    the current span; `Call.headers()` carries it to the server, so the callee's span joins the trace."""
    if _tracer is None:
        return _OFF_CALL
    return _call(_scope(_tracer, name, kind=SpanKind.CLIENT, attributes=attributes))


@contextlib.contextmanager
def _call(scope: "_Scope | _Bare") -> Iterator[Call]:
    with scope as opened:
        yield Call(opened)


class ServerSpans:
    """ASGI middleware: a SERVER span per HTTP request, `<METHOD> <route template>` (never the path itself, which
    may carry what the caller typed), joined to the caller's trace when it sent a valid `traceparent`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _tracer is None:
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or ()
        parent = extract(_header(headers, TRACEPARENT.encode()), _header(headers, TRACESTATE.encode())) or Context()
        status = 0

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = str(scope.get("method", "GET"))
        with _scope(_tracer, method, kind=SpanKind.SERVER, parent=parent) as served:
            try:
                await self.app(scope, receive, sending)
            finally:
                _describe_request(served, method, scope, status)


def _describe_request(served: Span, method: str, scope: Mapping[str, Any], status: int) -> None:
    if not served.is_recording():
        return
    route = getattr(scope.get("route"), "path", None)  # FastAPI puts the matched route in the scope
    if isinstance(route, str):
        served.update_name(f"{method} {route}")
        served.set_attribute("http.route", route)
    served.set_attributes({"http.request.method": method, "http.response.status_code": status})
    if status >= 500:
        served.set_status(Status(StatusCode.ERROR, str(status)))


def instrument(app: Any) -> None:
    """Adds the SERVER spans to an ASGI app when tracing is on (off: the app is left as it is)."""
    if _tracer is not None:
        app.add_middleware(ServerSpans)
