"""Tracing's cost with the machine's noise taken out: two copies of the requests service, one traced and one not,
answer the same commands at the same time, and each one's CPU per request is read over the same seconds.

    .venv/bin/python -m bench.trace_side_by_side [--count 20000] [--rounds 6] [--ratio 0.01] [--control] [--out FILE]

Why: on this machine two runs of `bench.requests_throughput` differ by up to 50 % whatever they run (the broker, the
database and neighbours share two cores), so off and traced runs one after the other need many pairs to say
anything, and a 10 % gap among them can be drift. Here both copies live through the same drift. Each copy has its
own database (so each decides every command and leads its own relay) and its own consumer group on the same
topics; the traced one exports to a local endpoint that keeps the bodies and answers 200 (OTLP/HTTP), and records
`--ratio` of new traces (parentbased_traceidratio). Each round starts both copies afresh and swaps which one is
traced, so neither database, port nor start order favours a side; each round publishes `--count` new loans and
then one command for each, as fast as the producer goes, so both copies stay behind and consume full batches.
`--control` traces neither (the "twin" is where the traced copy would be): what the method reads when there is no
difference. `--against R` traces the other copy too, recording R (0: nothing): what recording `--ratio` costs
over tracing at all (its side is still named "off").

Per copy and round, from the commands' start until both have published every answer (an idle copy spends next to
nothing): CPU (user and system, the process and its relay child) per request; the kernel's counts (page faults,
context switches) per request and resident memory; the seconds until it had decided every command, and how many
each had decided when the first had decided all (throughput over the same seconds: the copy that finishes first
then leaves the other both cores); records per batch; and the spans the traced copy exported in the round (its
loans' and commands' traces). The summary gives the rounds' CPU gaps (traced / untraced - 1): median, mean, and
the means with the traced copy first and second; and the median throughput gap.

BENCH_PERF=<file> and BENCH_PYSPY=<file> profile both copies as `bench.requests_throughput` does (perf: one file,
`perf report --sort pid,sym`, the pids are in the output; py-spy: <file>.traced and <file>.off); each round
overwrites the last round's.
"""

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.requests_throughput import envelopes, fresh_loans, produce, until_stored
from bench.support import (
    Exports,
    discarding_otlp,
    family,
    kernel_counters,
    native_profiler,
    sampling_profiler,
    scrape,
    service_process,
    stop_profiler,
    values,
)
from harness.builders import a_debit_day_change
from harness.infra import ROOT, Infra, provide
from shared import topics
from shared.db import migrate
from shared.kafka_admin import ensure_topics

PORTS = (18101, 18102)
MIGRATIONS = ROOT / "services" / "requests" / "migrations"


async def counts(port: int) -> dict[str, Any]:
    """What the copy on `port` has done so far, from one read of its /metrics: RequestApproved decisions committed,
    records its relay published, batches consumed, and the collector's runs in its main process (not its relay
    child) by generation (0, 1, 2)."""
    samples = await scrape(port)
    return {"decided": int(sum(values(samples, "postloan_decisions_total", type="RequestApproved"))),
            "published": int(sum(values(samples, "postloan_relay_published_total"))),
            "batches": int(sum(values(samples, "postloan_batch_duration_seconds_count"))),
            "collections": [int(sum(values(samples, "python_gc_collections_total", generation=str(g))))
                            for g in range(3)]}


async def one_round(infra: Infra, databases: list[tuple[str, str]], traced: int, tracing: dict[str, str],
                    count: int, other: dict[str, str] | None = None) -> dict[str, Any]:
    """Both copies answer `count` commands; copy `traced` (0 or 1) runs with `tracing` in its environment (nothing,
    for a control round: then it is the "twin"), the other with `other` (nothing: untraced). `databases`:
    (superuser URL, the requests service's URL) of each copy's database."""
    label = "traced" if tracing else "twin"
    loans = fresh_loans(count)
    async with contextlib.AsyncExitStack() as stack:
        procs = []
        for n, (_, service_url) in enumerate(databases):
            overrides = {"REQUESTS_DATABASE_URL": service_url, "REQUESTS_GROUP_ID": f"postloan.requests.side{n}",
                         **(tracing if n == traced else other or {})}
            procs.append(await stack.enter_async_context(service_process("requests", infra, PORTS[n], overrides)))
        await produce(infra.kafka_as(), topics.LOANS_SNAPSHOTS,
                      envelopes(topics.LOANS_SNAPSHOTS, [(x, x.loan_id) for x in loans]))
        for admin_url, _ in databases:
            await until_stored(admin_url, loans)
        commands = envelopes(topics.REQUESTS_COMMANDS, [(a_debit_day_change(x, 25), x.loan_id) for x in loans])
        before = [await counts(port) for port in PORTS]
        members = [[member for member, _, _, _ in family(p.pid)] for p in procs]  # the service and its relay child
        perf = native_profiler(*(p.pid for p in procs))
        spies = [sampling_profiler(p.pid, suffix=f".{label if n == traced else 'off'}") for n, p in enumerate(procs)]
        counted_before = [kernel_counters(p.pid) for p in procs]
        start = time.perf_counter()
        sending = asyncio.create_task(produce(infra.kafka_as(), topics.REQUESTS_COMMANDS, commands))
        finished: dict[int, float] = {}
        reached: list[dict[int, float]] = [{}, {}]  # when each copy had first decided so many (a batch commits many)
        both_ran: list[int] = []  # what each had decided when the first had decided all
        deadline = start + 900
        while True:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the copies did not answer {count} commands in 900 s")
            progress = [await counts(port) for port in PORTS]
            so_far = [got["decided"] - was["decided"] for got, was in zip(progress, before, strict=True)]
            now = time.perf_counter() - start
            for n, done in enumerate(so_far):
                reached[n].setdefault(done, now)
                if n not in finished and done >= count:
                    finished[n] = now
            if finished and not both_ran:
                both_ran = so_far
            if len(finished) == 2 and all(got["published"] - was["published"] >= 2 * count
                                          for got, was in zip(progress, before, strict=True)):
                break  # each copy decided every command and its relay published both answers of each
            await asyncio.sleep(0.05)
        await sending
        counted = [{k: v - was[k] for k, v in kernel_counters(p.pid).items()}
                   for p, was in zip(procs, counted_before, strict=True)]
        for profiler in (perf, *spies):
            stop_profiler(profiler)
        after = [await counts(port) for port in PORTS]
        batches = [got["batches"] - was["batches"] for got, was in zip(after, before, strict=True)]
        collected = [[g - w for g, w in zip(got["collections"], was["collections"], strict=True)]
                     for got, was in zip(after, before, strict=True)]
    sides: dict[str, dict[str, Any]] = {(label if n == traced else "off"): {
        "port": PORTS[n], "pids": members[n],
        "cpu_us_per_request": round((counted[n]["user_seconds"] + counted[n]["system_seconds"]) / count * 1e6, 1),
        "user_us_per_request": round(counted[n]["user_seconds"] / count * 1e6, 1),
        "system_us_per_request": round(counted[n]["system_seconds"] / count * 1e6, 1),
        "minor_faults_per_request": round(counted[n]["minor_faults"] / count, 2),
        "voluntary_switches_per_request": round(counted[n]["voluntary_switches"] / count, 3),
        "involuntary_switches_per_request": round(counted[n]["involuntary_switches"] / count, 3),
        "resident_mib_after": round((counted_before[n]["resident_bytes"] + counted[n]["resident_bytes"]) / 2**20, 1),
        "resident_mib_growth": round(counted[n]["resident_bytes"] / 2**20, 1),
        "collections_by_generation": collected[n],
        "seconds_to_decide_all": round(finished[n], 3),
        "requests_per_second": round(count / finished[n], 1),
        "decided_while_both_ran": both_ran[n],
        # the seconds to decide as many as the slower had when the faster was done: both ran all along
        "seconds_to_decide_as_many": round(_first_at(reached[n], min(both_ran)), 3),
        "requests_per_batch": round(count / max(batches[n], 1), 1)} for n in (0, 1)}
    return {**sides, "cpu_gap_percent": round((sides[label]["cpu_us_per_request"]
                                               / sides["off"]["cpu_us_per_request"] - 1) * 100, 1),
            # throughput while neither ran alone: the same number decided, in how many seconds
            "throughput_gap_percent": round((1 - sides["off"]["seconds_to_decide_as_many"]
                                             / sides[label]["seconds_to_decide_as_many"]) * 100, 1)}


def _first_at(reached: dict[int, float], level: int) -> float:
    """When a copy had first decided at least `level` (`reached`: its counts as polled, each with when first seen)."""
    return min(at for done, at in reached.items() if done >= level)


async def measure(args: argparse.Namespace, exports: Exports) -> dict[str, Any]:
    tracing = {} if args.control else {
        "OTEL_EXPORTER_OTLP_ENDPOINT": exports.endpoint, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": str(args.ratio)}
    other = None if args.against is None else {**tracing, "OTEL_TRACES_SAMPLER_ARG": str(args.against)}
    async with provide() as infra, infra.another_database() as (second_url, second_services):
        await ensure_topics(infra.kafka_as())
        databases = [(infra.database_url, infra.service_database_url("requests")),
                     (second_url, second_services["requests"])]
        for _, service_url in databases:
            await migrate(MIGRATIONS, service_url, "requests")
        rounds = []
        for r in range(args.rounds):
            exported = len(exports.bodies)
            found = await one_round(infra, databases, r % 2, tracing, args.count, other)
            # the traced copy's spans, start to stop: its loans, then the commands (each copy's exporter flushes when
            # it stops)
            found["spans_exported"] = Exports(exports.bodies[exported:]).spans()
            print(f"round {r + 1}: {json.dumps(found)}", flush=True)
            rounds.append(found)
    gaps = [r["cpu_gap_percent"] for r in rounds]
    return {
        "benchmark": "SubmitDebitDayChange -> RequestApproved: a traced and an untraced copy of the requests service "
                     "answering the same commands at the same time",
        "machine": "2 cores; broker, database, both copies and driver on the same machine",
        "kafka": infra.kafka_version, "postgres": infra.postgres_version, "count": args.count,
        "sampler": "none: a control, both copies untraced" if args.control
        else f"parentbased_traceidratio {args.ratio}",
        "other_copy": "untraced" if other is None else f"traced, parentbased_traceidratio {args.against}",
        "rounds": rounds,
        "median_cpu_gap_percent": round(statistics.median(gaps), 1),
        "mean_cpu_gap_percent": round(statistics.fmean(gaps), 1),
        # A copy's place (its port, database, start order) can cost it a few per cent (the control shows it):
        # the rounds alternate it, and the means with it first and second are given apart.
        "mean_cpu_gap_percent_first_second": [round(statistics.fmean(gaps[start::2]), 1) for start in (0, 1)]
        if len(gaps) > 1 else None,
        "median_throughput_gap_percent": round(statistics.median(r["throughput_gap_percent"] for r in rounds), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--ratio", type=float, default=0.01, help="the share of new traces the traced copy records")
    parser.add_argument("--control", action="store_true",
                        help="trace neither copy: what the method shows when there is no difference")
    parser.add_argument("--against", type=float,
                        help="the other copy traces too, recording this share of new traces (its \"off\" side)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "trace-side-by-side.json")
    args = parser.parse_args()
    with discarding_otlp() as exports:
        result = asyncio.run(measure(args, exports))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
