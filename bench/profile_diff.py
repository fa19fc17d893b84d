"""Two sets of cProfile files compared, function by function: which calls one run made that the other did not.

    .venv/bin/python -m bench.profile_diff '<folder A>/service-*-main.prof' '<folder B>/service-*-main.prof' \
        [--by calls|tottime|cumtime] [--top 40]

Made for BENCH_PROFILE_ALL (bench/profile_all): call counts are the same from run to run where the work is, so a
difference in them is work one run did and the other did not; the times (wall time under cProfile, waits included)
only rank it. Built-ins are matched by name (their addresses differ between processes).
"""

import argparse
import glob
import pstats
import re

Key = tuple[str, int, str]


def totals(pattern: str) -> dict[Key, list[float]]:
    """Calls, own time and cumulative time of each function, summed over the files `pattern` names."""
    found: dict[Key, list[float]] = {}
    for path in glob.glob(pattern):
        for (file, line, name), (_, calls, own, cumulative, _) in pstats.Stats(path).stats.items():  # type: ignore[attr-defined]
            row = found.setdefault((file, line, re.sub(r" at 0x[0-9a-f]+", "", name)), [0, 0.0, 0.0])
            row[0] += calls
            row[1] += own
            row[2] += cumulative
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--by", choices=("calls", "tottime", "cumtime"), default="calls")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    first, second = totals(args.first), totals(args.second)
    column = ("calls", "tottime", "cumtime").index(args.by)
    zero = [0, 0.0, 0.0]

    def gain(key: Key) -> float:
        return second.get(key, zero)[column] - first.get(key, zero)[column]

    for key in sorted(first.keys() | second.keys(), key=gain, reverse=True)[:args.top]:
        a, b = first.get(key, zero), second.get(key, zero)
        if b[0] == a[0] and column == 0:
            continue
        print(f"{b[0] - a[0]:>+9} calls ({a[0]:.0f} -> {b[0]:.0f})  tottime {1e3 * (b[1] - a[1]):+8.1f} ms  "
              f"cumtime {1e3 * (b[2] - a[2]):+8.1f} ms  {key[0]}:{key[1]}({key[2]})")


if __name__ == "__main__":
    main()
