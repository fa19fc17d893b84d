"""Tracing's overhead from alternating runs of the requests benchmark (`bench.requests_throughput`), one file per run
named `<label>-off-<n>.json` or `<label>-trace-<n>.json` in a folder: the medians of both sides and the gap, in
throughput and in CPU per request. One pair says little on a machine whose two cores the broker and the database
share (single pairs here ranged from a 4 % to a 23 % gap); the medians of several, run off-traced and traced-off
in turn, say more.

    .venv/bin/python -m bench.pairs bench/results/issue14/pairs/roots [--out FILE]
"""

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any


def summary(folder: Path) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "trace": []}
    for path in sorted(folder.glob("*.json")):
        side = path.stem.rsplit("-", 2)[-2]
        if side in runs:
            runs[side].append(json.loads(path.read_text())["service"])
    if not runs["off"] or not runs["trace"]:
        raise SystemExit(f"{folder}: no <label>-off-<n>.json and <label>-trace-<n>.json runs")
    sides = {side: {"runs": len(found),
                    "requests_per_second": [r["requests_per_second"] for r in found],
                    "cpu_us_per_request": [r["service_cpu_us_per_request"] for r in found],
                    "median_requests_per_second": statistics.median(r["requests_per_second"] for r in found),
                    "median_cpu_us_per_request": statistics.median(r["service_cpu_us_per_request"] for r in found)}
             for side, found in runs.items()}
    off, traced = sides["off"], sides["trace"]
    return {
        **sides,
        "throughput_gap_percent": round(
            (1 - traced["median_requests_per_second"] / off["median_requests_per_second"]) * 100, 1),
        "cpu_gap_percent": round(
            (traced["median_cpu_us_per_request"] / off["median_cpu_us_per_request"] - 1) * 100, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = json.dumps(summary(args.folder), indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
