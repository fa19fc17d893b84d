"""Per-caller rate limits on HTTP endpoints (the `limits` library's moving window), answered with 429 and
Retry-After. Counts are kept in the process: each copy of a service limits on its own (a caller spread over N
copies by a load balancer gets up to N times the rate; a shared store would be the next step if that matters)."""

import math
import time

from fastapi import HTTPException
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

_window = MovingWindowRateLimiter(MemoryStorage())


async def throttle(what: str, who: str, rate: str) -> None:
    """Counts one call of `who` to `what`; past `rate` (e.g. "30/minute") a 429 saying when to come back."""
    limit = parse(rate)
    if await _window.hit(limit, what, who):
        return
    stats = await _window.get_window_stats(limit, what, who)
    retry_after = max(1, math.ceil(stats.reset_time - time.time()))
    raise HTTPException(429, f"too many calls: at most {rate} per caller; try again in {retry_after} s",
                        headers={"Retry-After": str(retry_after)})
