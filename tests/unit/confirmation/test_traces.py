"""The request stays one trace across the call task (issue 14): a task keeps the trace of the submission that made
it, and the agent's outcome, which comes later with no context of the request, is decided in that trace."""

from shared import tracing
from tests.support.tracing import hex_ids, tracing_on
from tests.unit.confirmation.fakes import World
from tests.unit.confirmation.test_service import NOW, a_call, a_submission, a_world, record

REQUESTS_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_each_task_keeps_the_trace_context_of_the_submission_that_made_it() -> None:
    world = World()
    with tracing_on(), tracing.span("decide RequestSubmitted"):
        submitted = tracing.current_traceparent()
        await world.service(NOW).request_submitted(a_submission())
    assert submitted is not None and set(world.tasks.traces.values()) == {submitted}
    assert len(world.tasks.traces) == 2


async def test_the_outcome_is_decided_in_the_requests_trace_linked_to_the_commands_own() -> None:
    world = a_world()
    world.tasks.traces["T-1"] = REQUESTS_TRACE
    with tracing_on() as exported, tracing.span("decide RecordCallOutcome"):  # the consumer's, a trace of its own
        await record(world, a_call())
    [confirmed] = world.events()
    [resumed] = [s for s in exported.get_finished_spans() if s.parent is not None]  # under the stored context
    [command] = [s for s in exported.get_finished_spans() if s.parent is None]
    assert resumed.name == command.name == "decide RecordCallOutcome"
    assert confirmed["type"] == "CoBorrowerConfirmed"
    assert confirmed["traceparent"].split("-")[1] == REQUESTS_TRACE.split("-")[1] == hex_ids(resumed)[0]
    assert [f"{link.context.span_id:016x}" for link in resumed.links] == [hex_ids(command)[1]]


async def test_a_task_without_a_stored_trace_is_decided_in_the_commands_trace() -> None:
    world = a_world()
    with tracing_on() as exported, tracing.span("decide RecordCallOutcome"):
        await record(world, a_call())
    [command] = exported.get_finished_spans()
    assert world.events()[0]["traceparent"].split("-")[1] == hex_ids(command)[0]
