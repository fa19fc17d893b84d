"""What tracing costs the envelope work of one request, in-process (no broker, no database): a consumed command
decided into two events, their outbox rows, the outbox write's look at their headers, the stored answer, and the
relay's handling of each record into a Kafka batch; with tracing off and with an SDK provider sampling 1 % of
traces (parent-based), as a service runs with OTEL_TRACES_SAMPLER=parentbased_traceidratio.

    .venv/bin/python -m bench.trace_overhead                 # CPU time: bench/results/issue14/trace-overhead.json
    .venv/bin/python -m bench.trace_overhead --instructions  # instructions: .../trace-instructions.json

Time on this machine swings by up to 2x between runs minutes apart, more than what is measured; `--instructions`
counts instead, under valgrind's callgrind (Debian's `valgrind`, not a project dependency): each setting runs
twice, with WARM and WARM + COUNTED requests, and the difference divided by COUNTED is one request's instructions
(start-up and imports cancel out). The sampler is given rate 0 there, so that every request takes the same path
(a trace not recorded, as 99 % do at 1 %).
"""

import json
import os
import re
import subprocess
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from bench.support import CALLGRIND_ENV
from harness.builders import a_debit_day_change, a_loan
from shared import outbox, topics, tracing
from shared.envelope import new_event
from shared.messaging import MessageContext

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "issue14"
RUNS = 5000
WARM, COUNTED = 300, 1000


def a_request() -> Callable[[], None]:
    """One request's envelope work, as the consumer, the outbox and the relay do it."""
    loan = a_loan()
    command = a_debit_day_change(loan, 25)
    event = new_event(command, source="channels/app", subject=loan.loan_id, time=datetime.now(UTC))
    headers = [("content-type", b"application/cloudevents+json")]

    def one() -> None:
        ctx = MessageContext(None, event.time, "postloan/requests", "c", "c", event)  # type: ignore[arg-type]
        with tracing.consuming(topics.REQUESTS_COMMANDS, 0, 1, event, headers):
            ctx.emit(topics.REQUESTS_EVENTS, command, subject=loan.loan_id)
            ctx.emit(topics.REQUESTS_EVENTS, command, subject=loan.loan_id)
        records = ctx.emitted
        for record in records:
            record.row()
        with tracing.writing(records):
            outbox.pack(records)
        batch = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0, producer_id=1,
                                          producer_epoch=0, base_sequence=0, batch_size=1 << 30)
        for offset, record in enumerate(records):
            pairs = outbox.kafka_headers(record.headers)
            tracing.published(tracing.publishing(topics.REQUESTS_EVENTS, pairs), None)
            batch.append(offset, timestamp=None, key=record.key, value=record.value, headers=pairs)

    return one


def install(how: str, rate: float = 0.01) -> None:
    if how == "sampled":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        tracing.install(TracerProvider(sampler=ParentBased(TraceIdRatioBased(rate))))


def per_request_us() -> float:
    one = a_request()
    return min(timeit.repeat(one, number=RUNS, repeat=3)) / RUNS * 1e6


def instructions(how: str) -> int:
    """One request's instructions with tracing `how`, counted by callgrind."""
    def counted(requests: int) -> int:
        out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                              "-m", "bench.trace_overhead", "--count", how, str(requests)], cwd=ROOT,
                             env={**os.environ, **CALLGRIND_ENV, "PYTHONHASHSEED": "0"}, capture_output=True, text=True,
                             check=True)
        return int(re.findall(r"Collected : (\d+)", out.stderr)[-1])
    return (counted(WARM + COUNTED) - counted(WARM)) // COUNTED


def main() -> None:
    if sys.argv[1:2] == ["--one"]:  # a child: one setting, one figure
        install(sys.argv[2])
        print(per_request_us())
        return
    if sys.argv[1:2] == ["--count"]:  # a child under callgrind: a number of requests
        install(sys.argv[2], rate=0.0)
        one = a_request()
        for _ in range(int(sys.argv[3])):
            one()
        return
    if sys.argv[1:2] == ["--instructions"]:
        counts = {how: instructions(how) for how in ("off", "sampled")}
        result: dict[str, object] = {
            "what": "envelope work of one request (a command decided into two events, their rows, stored answer and "
                    "relay batch), instructions counted by callgrind; traced: every trace not recorded",
            "tracing_off": counts["off"], "traced": counts["sampled"], "added": counts["sampled"] - counts["off"]}
        out = RESULTS / "trace-instructions.json"
    else:
        figures = {how: float(subprocess.run([sys.executable, "-m", "bench.trace_overhead", "--one", how], cwd=ROOT,
                                             capture_output=True, text=True, check=True).stdout)
                   for how in ("off", "sampled")}
        result = {"what": "envelope work of one request (a command decided into two events), us of CPU",
                  "tracing_off_us": round(figures["off"], 1), "sampled_1_percent_us": round(figures["sampled"], 1),
                  "added_us": round(figures["sampled"] - figures["off"], 1)}
        out = RESULTS / "trace-overhead.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
