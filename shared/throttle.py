"""Per-caller rate limits on HTTP endpoints, answered with 429 and Retry-After: a moving window, at most N calls of
one caller to one endpoint in any span of the rate's unit (a second, a minute or an hour).

Counts are kept in the process: each copy of a service limits on its own (a caller spread over N copies by a load
balancer gets up to N times the rate; a shared store would be the next step if that matters). A caller's window is
the times of their last N calls (N is the rate's count): a call is counted when fewer than N lie within the unit
before it, and is otherwise refused with the seconds until the oldest of them leaves the window. Callers idle for
the longest unit are forgotten every `SWEEP_EVERY` calls, so the table holds only recent callers.

Written here rather than with the `limits` library, which this used before: its in-process asyncio storage starts
an expiry pass over every caller after a call, with a hop to a worker thread per caller for moving windows. That
cost about 0.55 ms of CPU per call with 20 agents (and grows with them), on the path of POST /tasks/next whose
latency the benchmarks hold to 50 ms; the window itself is a deque per caller.
"""

import functools
import math
import time
from collections import deque
from collections.abc import Callable

from fastapi import HTTPException

_UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
LONGEST = max(_UNITS.values())
SWEEP_EVERY = 1024


@functools.lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, float]:
    """"30/minute" -> (30, 60.0): how many calls in how many seconds (the settings check the text's shape)."""
    count, _, unit = rate.partition("/")
    return int(count), _UNITS[unit]


class MovingWindow:
    """The calls of each (endpoint, caller) within the window, on a monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._since_sweep = 0

    def hit(self, what: str, who: str, limit: int, window_s: float) -> float | None:
        """Counts one call of `who` to `what` and answers None; past `limit` calls in `window_s` counts nothing and
        answers the seconds until the oldest call in the window leaves it."""
        now = self._clock()
        if (calls := self._calls.get((what, who))) is None:  # not setdefault: no new deque on every call
            calls = self._calls[(what, who)] = deque()
        while calls and calls[0] <= now - window_s:
            calls.popleft()
        if len(calls) >= limit:
            return calls[0] + window_s - now if calls else window_s
        calls.append(now)
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self._sweep(now)
        return None

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        for key in [k for k, calls in self._calls.items() if not calls or calls[-1] <= now - LONGEST]:
            del self._calls[key]

    def __len__(self) -> int:
        """How many (endpoint, caller) windows are kept."""
        return len(self._calls)


_window = MovingWindow()


def throttle(what: str, who: str, rate: str) -> None:
    """Counts one call of `who` to `what`; past `rate` (e.g. "30/minute") a 429 saying when to come back."""
    limit, window_s = parse_rate(rate)
    wait = _window.hit(what, who, limit, window_s)
    if wait is None:
        return
    retry_after = max(1, math.ceil(wait))
    raise HTTPException(429, f"too many calls: at most {rate} per caller; try again in {retry_after} s",
                        headers={"Retry-After": str(retry_after)})
