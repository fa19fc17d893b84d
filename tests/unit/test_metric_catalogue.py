"""The metric catalogue in docs/observability.md is the registry's: a metric renamed, added or relabelled in the code
without the docs (or the other way round) fails here."""

import re
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import ServiceMetrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
ROW = re.compile(r"^\| `(?P<name>postloan_\w+)` \| (?P<kind>\w+) \|(?P<labels>[^|]*)\|")


def documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("<!-- metrics:begin -->"):text.index("<!-- metrics:end -->")]
    rows = (ROW.match(line) for line in table.splitlines())
    return {m["name"]: (m["kind"], tuple(x.strip() for x in m["labels"].split(",") if x.strip()))
            for m in rows if m}


def registered() -> dict[str, tuple[str, tuple[str, ...]]]:
    kinds = {Counter: "counter", Gauge: "gauge", Histogram: "histogram"}
    found = {}
    for metric in vars(ServiceMetrics("requests", "test")).values():
        kind = next((k for cls, k in kinds.items() if isinstance(metric, cls)), None)
        if kind is not None:
            name = metric._name + ("_total" if kind == "counter" else "")
            found[name] = (kind, tuple(metric._labelnames))
    return found


def test_every_metric_is_documented_with_its_type_and_labels() -> None:
    assert documented() == registered()


def test_every_name_follows_the_conventions() -> None:
    for name, (kind, labels) in registered().items():
        assert name.startswith("postloan_")
        assert name.endswith("_total") == (kind == "counter")
        if kind == "histogram":
            assert name.endswith("_seconds")  # base units
        assert not {"loan_id", "customer_id", "request_id", "task_id", "booking_id", "service"} & set(labels) or (
            name == "postloan_service_info")
