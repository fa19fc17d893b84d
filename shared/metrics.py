"""Prometheus metrics of one copy of a service, served at `/metrics` (docs/observability.md lists every name).

One registry per service runtime (tests run several services in one process), so every instrumented part gets
its `ServiceMetrics` handed to it; none reads a global. Labels are bounded sets only: topics, contract types,
reason codes, routes' templates, channels, outcomes. Never a loan, customer or request id, never a value a
stranger chose (an undecodable record's type is counted as `""`).

The hot paths count into plain dictionaries per batch and add them to the metrics once the batch has committed,
so a batch that is rolled back and redone is counted once.
"""

import re
import time
from collections import Counter as Tally
from collections.abc import Iterable
from enum import Enum
from functools import lru_cache
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
# Seconds: from a few milliseconds (one command alone) to a minute (a burst queued behind thousands).
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series beside every counter: Prometheus does not need them

Outcome = tuple[str, str, str]  # topic, type, outcome of one consumed record
Decision = tuple[str, str, str]  # event type, reason code and channel ("" for none)

class ServiceMetrics:
    """Every metric of the catalogue, registered in a registry of this copy's own."""

    def __init__(self, service: str, version: str) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=r)
        self.info = Gauge("postloan_service_info", "Which service and version this target is (always 1).",
                          ["service", "version"], registry=r)
        self.info.labels(service, version).set(1)
        self.ready = Gauge("postloan_ready", "1 when every /ready check holds, evaluated at scrape.", registry=r)
        self.consumed = Counter(
            "postloan_records_consumed", "Records consumed, by outcome: applied, duplicate, replayed (a command "
            "answered again), ignored (no handler here), dead_lettered.", ["topic", "type", "outcome"], registry=r)
        self.dead_letters = Counter(
            "postloan_dead_letters", "Records this copy sent to <topic>.dlq, by x-error-kind.", ["topic", "kind"],
            registry=r)
        self.decisions = Counter(
            "postloan_decisions", "Events decided and committed, by type, reason code and channel (\"\" when none).",
            ["type", "reason_code", "channel"], registry=r)
        self.command_latency = Histogram(
            "postloan_command_to_event_seconds", "From a command's Kafka timestamp to the commit of its answer.",
            ["type"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_duration = Histogram(
            "postloan_batch_duration_seconds", "One consumed batch, from decoding to commit.",
            buckets=LATENCY_BUCKETS, registry=r)
        self.lag = Gauge(
            "postloan_consumer_lag", "End offset minus the group's committed offset, in records.",
            ["group", "topic", "partition"], registry=r)
        self.outbox_unsent = Gauge("postloan_outbox_unsent", "Outbox rows not yet published.", registry=r)
        self.outbox_oldest_age = Gauge(
            "postloan_outbox_oldest_unsent_age_seconds", "Age of the oldest unsent outbox row (0 when none).",
            registry=r)
        self.outbox_parked = Gauge(
            "postloan_outbox_parked", "Outbox rows the relay parked (refused by the broker for good).", registry=r)
        self.relay_leader = Gauge(
            "postloan_relay_leader", "1 when this copy's relay holds the service's relay lock.", registry=r)
        self.relay_published = Counter("postloan_relay_published", "Records the relay published.", registry=r)
        self.relay_parked = Counter("postloan_relay_parked", "Outbox rows this relay parked.", registry=r)
        self.timers_due = Gauge("postloan_timers_due", "Timers due now and not parked.", registry=r)
        self.timers_parked = Gauge("postloan_timers_parked", "Timers parked after failing too often.", registry=r)
        self.timers_fired = Counter("postloan_timers_fired", "Timer firings.", registry=r)
        self.timers_failed = Counter("postloan_timers_failed", "Timer firings whose handler failed.", registry=r)
        self.http_requests = Counter(
            "postloan_http_requests", "HTTP requests, by the route's template (`other`: no route matched).",
            ["route", "method", "status"], registry=r)
        self.http_duration = Histogram(
            "postloan_http_request_duration_seconds", "HTTP request latency.", ["route", "method"],
            buckets=HTTP_BUCKETS, registry=r)
        self.notifications = Counter(
            "postloan_notifications", "Deliveries by channel and outcome: sent, failed (given up), retried, held.",
            ["channel", "outcome"], registry=r)
        self.gateway_latency = Histogram(
            "postloan_gateway_request_duration_seconds", "One call to a channel's gateway.", ["channel", "outcome"],
            buckets=HTTP_BUCKETS, registry=r)
        self.dead_letter_topic_records = Gauge(
            "postloan_dead_letter_topic_records", "Records on each dead-letter topic (the console counts them).",
            ["topic"], registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def count_consumed(self, outcomes: Tally[Outcome]) -> None:
        for (topic, type_, outcome), n in outcomes.items():
            self.consumed.labels(topic, type_, outcome).inc(n)

    def count_decided(self, decisions: Iterable[Decision]) -> None:
        for (type_, reason, channel), n in Tally(decisions).items():
            self.decisions.labels(type_, reason, channel).inc(n)

    def observe_commands(self, produced_ms: Iterable[tuple[str, int]]) -> None:
        """Command type and its record's Kafka timestamp (ms), for commands whose answers just committed."""
        now_ms = time.time() * 1000
        children: dict[str, Any] = {}
        for type_, at_ms in produced_ms:
            if (child := children.get(type_)) is None:
                child = children[type_] = self.command_latency.labels(type_)
            child.observe(max(now_ms - at_ms, 0.0) / 1000)

    def set_lag(self, lags: dict[tuple[str, str, int], int]) -> None:
        """Replaces every lag figure with `lags` ((group, topic, partition) -> records) in one step between two
        scrapes (no await in here): a partition no longer reported disappears."""
        self.lag.clear()
        for (group, topic, partition), value in lags.items():
            self.lag.labels(group, topic, str(partition)).set(value)


_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def code_label(value: Any) -> str:
    """An enumeration's value as a label: "" when absent, `other` for anything that is not an upper-case code (a
    label must come from a bounded set, whatever a contract field's type allows)."""
    if value is None:
        return ""
    return _code_label(str(value.value if isinstance(value, Enum) else value))


@lru_cache(maxsize=1024)
def _code_label(text: str) -> str:  # the same few codes again and again: checked once each
    return text if _CODE.fullmatch(text) else "other"


def decision_of(data: Any) -> Decision:
    """What a decided event is counted by: its type, reason code and channel (those it has)."""
    has_reason, has_channel = _counted_fields(type(data))
    return (data.type_name(), code_label(data.reason_code) if has_reason else "",
            code_label(data.channel) if has_channel else "")


def _counted_fields(cls: type) -> tuple[bool, bool]:
    """Whether a contract type has a reason code and a channel (asked once per type: a missing attribute of a
    pydantic model is slow to find missing)."""
    if (found := _FIELDS.get(cls)) is None:
        fields = getattr(cls, "model_fields", {})
        found = _FIELDS[cls] = ("reason_code" in fields, "channel" in fields)
    return found


_FIELDS: dict[type, tuple[bool, bool]] = {}


def record_timestamp_ms(record: Any) -> int | None:
    """A consumed record's Kafka timestamp in ms, when the record has one (test doubles may not)."""
    value = getattr(record, "timestamp", None)
    return value if isinstance(value, int) and value > 0 else None


_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetrics:
    """ASGI middleware: every HTTP request counted by its route's template (never the path a caller typed, which
    would be an unbounded label), method and status, and timed. Outermost, so refusals by the guard count too."""

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before starting a response

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            # The router writes the matched route into the scope (FastAPI's routes carry their template).
            route = getattr(scope.get("route"), "path", None) or "other"
            method = scope.get("method") if scope.get("method") in _METHODS else "OTHER"
            self._metrics.http_requests.labels(route, method, str(status)).inc()
            self._metrics.http_duration.labels(route, method).observe(time.perf_counter() - started)
