"""The per-caller moving window behind 429s (shared/throttle.py), on a clock the tests move."""

import pytest
from fastapi import HTTPException
from hypothesis import given
from hypothesis import strategies as st

from shared import throttle as throttle_module
from shared.throttle import LONGEST, SWEEP_EVERY, MovingWindow, parse_rate, throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("rate", "expected"), [("3/second", (3, 1.0)), ("120/minute", (120, 60.0)),
                                                ("0/hour", (0, 3600.0))])
def test_a_rate_is_a_count_in_a_unit(rate: str, expected: tuple[int, float]) -> None:
    assert parse_rate(rate) == expected


def test_the_call_past_the_limit_waits_for_the_oldest_to_leave_the_window() -> None:
    clock = Clock()
    window = MovingWindow(clock)
    for step in (0.0, 10.0, 20.0):
        clock.now += step
        assert window.hit("next_task", "agent-1", 3, 60) is None
    clock.now += 5  # 35 s after the first call: it leaves the window in 25 s
    assert window.hit("next_task", "agent-1", 3, 60) == pytest.approx(25)
    assert window.hit("next_task", "agent-2", 3, 60) is None  # per caller
    assert window.hit("other", "agent-1", 3, 60) is None  # and per endpoint
    clock.now += 25  # the first call is now a whole window old
    assert window.hit("next_task", "agent-1", 3, 60) is None
    assert window.hit("next_task", "agent-1", 3, 60) == pytest.approx(10)  # the refused call was not counted


def test_a_rate_of_zero_refuses_every_call_for_a_whole_window() -> None:
    assert MovingWindow(Clock()).hit("next_task", "agent-1", 0, 60) == 60


# Each step: how far the clock moves (whole seconds, exact in floating point, so boundaries are hit exactly) and who
# calls.
@given(limit=st.integers(0, 5), window_s=st.integers(1, 50),
       steps=st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["a", "b", "c"])), max_size=200))
def test_the_window_agrees_with_counting_every_call_by_hand(limit: int, window_s: int,
                                                            steps: list[tuple[int, str]]) -> None:
    clock = Clock()
    window = MovingWindow(clock)
    counted: dict[str, list[float]] = {}
    for advance, who in steps:
        clock.now += advance
        mine = counted.setdefault(who, [])
        recent = [t for t in mine if t > clock.now - window_s]  # counted calls within the window before now
        wait = window.hit("next_task", who, limit, window_s)
        if len(recent) < limit:
            assert wait is None
            mine.append(clock.now)
        else:
            assert wait == (min(recent) + window_s - clock.now if recent else window_s)
            assert 0 < wait <= window_s


def test_callers_idle_for_the_longest_unit_are_forgotten() -> None:
    clock = Clock()
    window = MovingWindow(clock)
    for n in range(100):
        window.hit("next_task", f"gone-{n}", 5, 60)
    clock.now += LONGEST
    for n in range(SWEEP_EVERY):  # the sweep runs within this many counted calls
        window.hit("next_task", f"agent-{n % 10}", 10**6, 60)
    assert len(window) == 10


def test_the_answer_past_the_limit_is_a_429_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(throttle_module, "_window", MovingWindow(clock))
    throttle("next_task", "agent-1", "1/minute")
    clock.now += 59.5
    with pytest.raises(HTTPException) as refused:
        throttle("next_task", "agent-1", "1/minute")
    assert refused.value.status_code == 429
    assert refused.value.headers == {"Retry-After": "1"}  # half a second, rounded up to whole seconds
