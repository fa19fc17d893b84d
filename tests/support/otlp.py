"""An OTLP/HTTP trace receiver for the test run: what the platform's processes export, decoded with
`opentelemetry-proto`, so a test reads the real spans of each process (no hand-made spans).

It keeps the request bodies as they came (a copy of the platform exports all session long, so receiving must stay
cheap) and decodes them when a test asks.
"""

import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

_OK = ExportTraceServiceResponse().SerializeToString()


@dataclass(frozen=True)
class ReceivedSpan:
    service: str  # the exporting process's resource `service.name`
    trace_id: str  # hex, as in a traceparent
    span_id: str
    parent_id: str  # "" for a root span
    name: str
    kind: str  # SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]  # (trace id, span id) of each linked span
    error: bool


class OtlpReceiver:
    """POST /v1/traces (protobuf) on a free local port; `endpoint` is what OTEL_EXPORTER_OTLP_ENDPOINT takes."""

    def __init__(self) -> None:
        self._bodies: list[bytes] = []
        self._decoded: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "OtlpReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far."""
        with self._lock:
            bodies, self._bodies = self._bodies, []
        for body in bodies:
            self._decoded.extend(_spans_of(body))
        return list(self._decoded)

    def _keep(self, body: bytes) -> None:
        with self._lock:
            self._bodies.append(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver._keep(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(_OK)))
                self.end_headers()
                self.wfile.write(_OK)

            def log_message(self, *_: Any) -> None:  # the test's output is no place for one line per export
                return

        return Handler


def _spans_of(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest.FromString(body)
    found = []
    for resource_spans in request.resource_spans:
        service = _attributes(resource_spans.resource.attributes).get("service.name", "")
        for scope_spans in resource_spans.scope_spans:
            found.extend(_span(service, s) for s in scope_spans.spans)
    return found


def _span(service: str, s: Any) -> ReceivedSpan:
    return ReceivedSpan(
        service=service, trace_id=s.trace_id.hex(), span_id=s.span_id.hex(), parent_id=s.parent_span_id.hex(),
        name=s.name, kind=ProtoSpan.SpanKind.Name(s.kind).removeprefix("SPAN_KIND_"),
        attributes=_attributes(s.attributes),
        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in s.links),
        error=s.status.code == s.status.STATUS_CODE_ERROR)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind in ("string_value", "int_value", "bool_value", "double_value") else str(value)
