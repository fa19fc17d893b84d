"""What tracing costs the envelope work of one request, in-process (no broker, no database): a consumed command
decided into two events, their outbox rows and the relay's look at their headers, with tracing off and with an SDK
provider sampling 1 % of traces (parent-based), as a service runs with OTEL_TRACES_SAMPLER=parentbased_traceidratio.

    .venv/bin/python -m bench.trace_overhead   # writes bench/results/issue14/trace-overhead.json
"""

import json
import subprocess
import sys
import timeit
from datetime import UTC, datetime
from pathlib import Path

from harness.builders import a_debit_day_change, a_loan
from shared import topics, tracing
from shared.envelope import new_event
from shared.messaging import MessageContext

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5000


def per_request_us() -> float:
    loan = a_loan()
    command = a_debit_day_change(loan, 25)
    event = new_event(command, source="channels/app", subject=loan.loan_id, time=datetime.now(UTC))
    ctx = MessageContext(None, datetime.now(UTC), "postloan/requests", "c", "c", event)  # type: ignore[arg-type]

    def one() -> None:
        with tracing.consuming(topics.REQUESTS_COMMANDS, 0, 1, event, ()):
            ctx.emitted.clear()
            ctx.decided.clear()
            ctx.emit(topics.REQUESTS_EVENTS, command, subject=loan.loan_id)
            ctx.emit(topics.REQUESTS_EVENTS, command, subject=loan.loan_id)
        for record in ctx.emitted:
            record.row()
            tracing.publishing(topics.REQUESTS_EVENTS, record.headers)

    return min(timeit.repeat(one, number=RUNS, repeat=3)) / RUNS * 1e6


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":  # a child: one setting, one figure
        if sys.argv[2] == "sampled":
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

            tracing.install(TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.01))))
        print(per_request_us())
        return
    figures = {how: float(subprocess.run([sys.executable, "-m", "bench.trace_overhead", "--one", how], cwd=ROOT,
                                         capture_output=True, text=True, check=True).stdout)
               for how in ("off", "sampled")}
    result = {"what": "envelope work of one request (a command decided into two events), us of CPU",
              "tracing_off_us": round(figures["off"], 1), "sampled_1_percent_us": round(figures["sampled"], 1),
              "added_us": round(figures["sampled"] - figures["off"], 1)}
    out = ROOT / "bench" / "results" / "issue14" / "trace-overhead.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
