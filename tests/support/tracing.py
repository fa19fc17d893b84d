"""Tracing on, into memory, for a test in the test's own process (shared.tracing.install): the spans it made, and
the contexts events carry, read back without an exporter."""

import contextlib
from collections.abc import Iterator

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import tracing

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider(resource=Resource.get_empty())  # one for the run: a new one reads entry points each time
PROCESSOR = SimpleSpanProcessor(EXPORTER)
PROVIDER.add_span_processor(PROCESSOR)


@contextlib.contextmanager
def tracing_on() -> Iterator[InMemorySpanExporter]:
    """Tracing on for the block, into memory (emptied first); off again after it."""
    EXPORTER.clear()
    tracing.install(PROVIDER, PROCESSOR)  # as `tracing.setup` does: the record path's spans are made by tracing
    try:
        yield EXPORTER
    finally:
        tracing.install(None)


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    """A span's trace and span ids as a traceparent writes them."""
    assert span.context is not None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def named(exporter: InMemorySpanExporter, prefix: str) -> ReadableSpan:
    """The one finished span whose name starts with `prefix`."""
    [found] = [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]
    return found
