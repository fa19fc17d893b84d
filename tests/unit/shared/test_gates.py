"""A copy's first-come-first-served gates (`Deps.gate`), which POST /tasks/next goes through."""

import asyncio
from typing import Any

from shared.runtime import Deps


def _deps() -> Deps:
    nothing: Any = None  # the gates need none of the copy's other parts
    return Deps(settings=nothing, engine=nothing, sessions=nothing, tables=nothing, clock=nothing)


async def test_a_gate_lets_its_size_in_and_the_rest_in_the_order_they_came() -> None:
    deps = _deps()
    assert deps.gate("next_task", 2) is deps.gate("next_task", 2)
    assert deps.gate("other", 2) is not deps.gate("next_task", 2)
    inside, admitted, release = 0, [], asyncio.Event()
    most = 0

    async def caller(n: int) -> None:
        nonlocal inside, most
        async with deps.gate("next_task", 2):
            inside += 1
            most = max(most, inside)
            admitted.append(n)
            await release.wait()
            inside -= 1

    callers = []
    for n in range(6):  # each one waits at the gate before the next arrives
        callers.append(asyncio.create_task(caller(n)))
        await asyncio.sleep(0)
    while len(admitted) < 2:
        await asyncio.sleep(0)
    assert admitted == [0, 1]  # two inside, four waiting
    release.set()
    await asyncio.gather(*callers)
    assert admitted == [0, 1, 2, 3, 4, 5] and most == 2
