"""The parent's reading of its relay child's reports (shared.relay_process): well-formed reports move the service's
metrics by what they add; anything else on the child's stdout is ignored, never raised or counted."""

import asyncio
import json

from hypothesis import given
from hypothesis import strategies as st

from shared.metrics import ServiceMetrics
from shared.relay_process import RelayReports, read_reports


def _value(metrics: ServiceMetrics, name: str) -> float:
    return metrics.registry.get_sample_value(name) or 0.0


def test_reports_move_the_counters_by_what_they_add_and_a_new_child_starts_from_zero() -> None:
    metrics = ServiceMetrics("requests", "test")
    reports = RelayReports(metrics)
    reports.apply(json.dumps({"leading": True, "published": 10, "parked": 1}))
    reports.apply(json.dumps({"leading": True, "published": 25, "parked": 1}).encode() + b"\n")
    assert reports.leading and _value(metrics, "postloan_relay_published_total") == 25
    assert _value(metrics, "postloan_relay_parked_total") == 1
    reports.child_gone()
    assert not reports.leading
    reports.apply(json.dumps({"leading": False, "published": 4, "parked": 0}))  # the next child counts from zero
    assert _value(metrics, "postloan_relay_published_total") == 29


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                 max_size=4), max_leaves=12)


@given(line=st.one_of(
    st.binary(max_size=300),
    _JSON.map(json.dumps),
    st.fixed_dictionaries({"leading": _JSON, "published": _JSON, "parked": _JSON}).map(json.dumps),
))
def test_a_line_that_is_not_a_report_changes_nothing(line: bytes | str) -> None:
    metrics = ServiceMetrics("requests", "test")
    reports = RelayReports(metrics)
    reports.apply(json.dumps({"leading": True, "published": 7, "parked": 2}))
    before = (reports.leading, reports.published, reports.parked)
    try:
        found = json.loads(line)
    except ValueError:
        found = None
    well_formed = (isinstance(found, dict) and isinstance(found.get("leading"), bool)
                   and type(found.get("published")) is int and type(found.get("parked")) is int
                   and found["published"] >= 0 and found["parked"] >= 0)
    reports.apply(line)
    if not well_formed:
        assert (reports.leading, reports.published, reports.parked) == before
        assert _value(metrics, "postloan_relay_published_total") == 7
        assert _value(metrics, "postloan_relay_parked_total") == 2


async def test_a_line_too_long_for_the_reader_is_skipped_and_the_reports_after_it_are_read() -> None:
    metrics = ServiceMetrics("requests", "test")
    reports = RelayReports(metrics)
    reader = asyncio.StreamReader(limit=256)
    reader.feed_data(b"x" * 10_000 + b"\n")  # something else wrote a long line to the child's stdout
    reader.feed_data(json.dumps({"leading": True, "published": 3, "parked": 0}).encode() + b"\n")
    reader.feed_eof()
    await read_reports(reader, reports)
    assert reports.leading and _value(metrics, "postloan_relay_published_total") == 3
