"""What the metrics cost the consumer's hot path, per record, measured in-process (no broker, no database).

The consumer's only metrics work per record is counting into a per-batch tally (`shared.messaging._Tally`) and,
once the batch has committed, adding the tally to the registry (counters, the command-latency histogram). This
times exactly that for 500-record batches of commands that each decide two events, and `decision_of` (how an
emitted event is labelled), and writes the figures to bench/results/issue14/metrics-overhead.json. The whole-service
throughput with metrics and traces on and off is `bench.requests_throughput` (see bench/README.md).
"""

import argparse
import json
import timeit
from pathlib import Path
from typing import Any, ClassVar

from harness.builders import a_debit_day_change, a_loan
from shared.contracts import requests as R
from shared.messaging import _Tally
from shared.metrics import ServiceMetrics, decision_of

ROOT = Path(__file__).resolve().parent.parent
BATCH = 500


class _Record:
    topic = "requests.commands"
    timestamp = 1_700_000_000_000


class _Event:
    type = "SubmitDebitDayChange"
    data: Any = None


class _Decided:
    decided: ClassVar = [("RequestSubmitted", "", "APP"), ("RequestApproved", "", "")]


def per_batch(metrics: ServiceMetrics) -> None:
    tally = _Tally()
    for _ in range(BATCH):
        tally.applied(_Record, _Event, _Decided)  # type: ignore[arg-type]
    tally.report(metrics, 0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "issue14" / "metrics-overhead.json")
    args = parser.parse_args()
    _Event.data = a_debit_day_change(a_loan(), 25)
    metrics = ServiceMetrics("requests", "bench")
    runs = 200
    batch_s = min(timeit.repeat(lambda: per_batch(metrics), number=runs, repeat=3)) / runs
    refused = R.RequestRejected.model_construct(reason_code="LOAN_NOT_FOUND")  # type: ignore[call-arg]  # labels only
    label_s = min(timeit.repeat(lambda: decision_of(refused), number=100_000, repeat=3)) / 100_000
    per_request_us = batch_s / BATCH * 1e6 + 2 * label_s * 1e6  # a request decides two events
    result = {
        "what": "metrics work on the consumer's hot path, per record (500-record batches, two events each)",
        "tally_and_report_us_per_record": round(batch_s / BATCH * 1e6, 2),
        "decision_label_us_per_event": round(label_s * 1e6, 2),
        "total_us_per_request": round(per_request_us, 2),
        "share_of_a_request_at_1000_per_s_percent": round(per_request_us / 1000 * 100, 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
