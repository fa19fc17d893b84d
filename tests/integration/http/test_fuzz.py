"""schemathesis against each service's own OpenAPI document, on the real app (real broker and database): no input,
however malformed, may answer with a server error (SPEC §10). Totals go to bench/results/schemathesis.json and the
end of the pytest output."""

import asyncio
import json
import os
from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from harness.infra import ROOT
from tests.integration.http.conftest import FUZZ_TOTALS, Served
from tests.support.auth import identity, staff
from tests.support.services import SERVICES

RESULTS = ROOT / "bench" / "results" / "schemathesis.json"
# Per operation and phase: the whole run stays within about two minutes on two cores. A deeper or other run:
# POSTLOAN_FUZZ_MAX_EXAMPLES=200 POSTLOAN_FUZZ_SEED=7 pytest tests/integration/http/test_fuzz.py
MAX_EXAMPLES = int(os.environ.get("POSTLOAN_FUZZ_MAX_EXAMPLES", "25"))
SEED = int(os.environ.get("POSTLOAN_FUZZ_SEED", "20200203"))  # the account's first day: a run is repeatable


def run_schemathesis(url: str, token: str) -> dict[str, Any]:
    """Every operation of the service's OpenAPI document, through the examples, coverage and fuzzing phases,
    checked with `not_a_server_error` only (blocking: run it off the event loop that serves the app), signed in
    with every staff role so that the generated input reaches the routes' own validation."""
    config = SchemathesisConfig.from_dict({
        "headers": {"Authorization": f"Bearer {token}"},
        "seed": SEED,
        "cache": {"enabled": False},  # no state between runs (and no .schemathesis/ in the work tree)
        "workers": 1,
        "request-timeout": 30,
        "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
    })
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
    cases: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    errors: list[str] = []
    seconds: Counter[str] = Counter()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted):
            seconds[event.phase.name.value] -= event.timestamp
        elif isinstance(event, events.PhaseFinished):
            seconds[event.phase.name.value] += event.timestamp
        elif isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            cases[recorder.label] += len(recorder.interactions)
            failures.extend(_failure(recorder, case_id, check.failure_info)
                            for case_id, checks in recorder.checks.items() for check in checks
                            if check.status == Status.FAILURE and check.failure_info is not None)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(str(getattr(event, "value", None) or getattr(event, "exception", None)))
    return {"operations": len(schema),
            "cases": sum(cases.values()), "failures": len(failures), "by_operation": dict(sorted(cases.items())),
            "failed": failures[:20], "errors": errors[:20],
            "seconds_by_phase": {k: round(v, 1) for k, v in seconds.items()}}


def _failure(recorder: Any, case_id: str, info: Any) -> dict[str, Any]:
    """What a failed case sent and got back, cut short: enough to reproduce it."""
    interaction = recorder.interactions.get(case_id)
    request = interaction.request if interaction is not None else None
    response = interaction.response if interaction is not None else None
    return {"operation": recorder.label, "title": info.failure.title,
            "method": request.method if request else None, "url": request.uri if request else None,
            "body": (request.body or b"")[:300].decode("utf-8", "replace") if request else None,
            "status": response.status_code if response else None,
            "response": (response.content or b"")[:300].decode("utf-8", "replace") if response else None}


def _record(name: str, totals: dict[str, Any]) -> None:
    FUZZ_TOTALS[name] = {k: totals[k] for k in ("operations", "cases", "failures")}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    recorded = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    recorded.setdefault("services", {})[name] = {**totals, "max_examples": MAX_EXAMPLES, "seed": SEED}
    recorded["check"] = "not_a_server_error"
    RESULTS.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@pytest.mark.timeout(600)
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")  # raised inside schemathesis
@pytest.mark.parametrize("name", list(SERVICES))
async def test_no_generated_request_gets_a_server_error(name: str, platform: dict[str, Served]) -> None:
    service = platform[name]
    async with service.client() as client:
        policy = (await client.get("/policy")).json() if name == "requests" else None
        try:
            token = identity().sign_in(staff().username)  # fresh: lives the realm's full token lifespan
            totals = await asyncio.to_thread(run_schemathesis, service.url, token)
        finally:
            if policy is not None:  # fuzzing may put generated policies in force; later tests expect this one
                await _restore_policy(client, policy)
    _record(name, totals)
    assert totals["operations"] > 0 and totals["cases"] > 0, totals
    assert totals["failures"] == 0, json.dumps(totals["failed"], indent=1, ensure_ascii=False)
    assert not totals["errors"], totals["errors"]  # a request that never got an answer, say


async def _restore_policy(client: httpx.AsyncClient, policy: dict[str, Any]) -> None:
    response = await client.put("/policy", json={"policy": policy["document"]})
    assert response.status_code == 200 and response.json()["version"] == policy["version"], response.text
