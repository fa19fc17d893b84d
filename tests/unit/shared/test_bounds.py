"""CONTRACT.md 1.1 "Bounds": each model's field checks, chosen once from the declared types, find exactly what the
generic walk (`value_problem` on every field of every record) finds, with the same words, on generated records."""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared import envelope
from shared.contracts import TOPIC_TYPES, Contract
from shared.contracts import _base as base
from shared.contracts._bounds import INT32, value_problem
from shared.envelope import CloudEvent

DATA = Path(__file__).parent / "data"
MODELS = {model.type_name(): model for models in TOPIC_TYPES.values() for model in models}
NOW = datetime(2020, 2, 3, 9, 0, tzinfo=UTC)

texts = st.one_of(
    st.text(max_size=12),  # any code point: controls, NUL, surrogates, spaces, other scripts
    st.sampled_from(["", " ", "  ", "\u3000", "id\x7f", "a\x0bb", "\ud800", "ok", "R-1", "\t", "é", "李"]),
    st.tuples(st.sampled_from([127, 128, 129, 255, 256, 257, 999, 1000, 1001]), st.sampled_from("x \x01é")).map(
        lambda t: t[1] * t[0]),
)
integers = st.one_of(st.integers(-5, 40), st.sampled_from([INT32[0] - 1, INT32[0], INT32[1], INT32[1] + 1]),
                     st.integers(-(2**40), 2**40))
times = st.integers(-10, 10).map(lambda m: (NOW + timedelta(minutes=m)).isoformat())


def _paths(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) of a JSON document, containers included."""
    found = [(path, doc)] if path else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*path, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*path, i))
    return found


@st.composite
def spoilt(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A golden document of any type with a few of its values replaced by values of the same JSON kind."""
    name = draw(st.sampled_from(sorted(MODELS)))
    doc = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        by_kind: dict[str, list[tuple[tuple[Any, ...], Any]]] = {}
        for path, value in _paths(doc):  # the rarer kinds (numbers, lists, maps) drawn as often as texts
            kind = "other" if isinstance(value, bool) or value is None else type(value).__name__
            kind = "time" if kind == "str" and value[:4].isdigit() and "T" in value else kind
            by_kind.setdefault(kind, []).append((path, value))
        path, old = draw(st.sampled_from(by_kind[draw(st.sampled_from(sorted(by_kind)))]))
        if isinstance(old, bool) or old is None:
            continue
        if isinstance(old, int):
            new: Any = draw(integers)
        elif isinstance(old, str):
            new = draw(times if old[:4].isdigit() and "T" in old else texts)
        elif isinstance(old, list) and old:
            new = (old * draw(st.sampled_from([1, 2, 11, 501])))[:520]  # past each bound, never huge
        elif isinstance(old, dict):
            new = {**old, **{draw(texts): draw(texts) for _ in range(draw(st.sampled_from([0, 1, 70])))}}
        else:
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = new
    return name, doc


def _generic_checks(model: type[Contract]) -> tuple[tuple[str, Any], ...]:
    """The walk every field used to get: `value_problem` by name, whatever its type."""
    return tuple((n, lambda v, now, n=n: value_problem(n, v, now)) for n in model.model_fields)


def _outcome(model: type[Any], doc: dict[str, Any]) -> Any:
    try:
        return model.model_validate(copy.deepcopy(doc), context={"now": NOW}).model_dump(mode="json")
    except ValidationError as exc:
        return [(e["loc"], e["msg"]) for e in exc.errors(include_url=False, include_input=False)]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spoilt())
def test_each_models_checks_find_what_the_generic_walk_finds(case: tuple[str, dict[str, Any]]) -> None:
    name, doc = case
    checked = _outcome(MODELS[name], doc)
    with mock.patch.object(base, "_checks", _generic_checks):
        walked = _outcome(MODELS[name], doc)
    assert checked == walked


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["id", "type", "source", "subject", "correlationid", "causationid", "datacontenttype"]), texts)
def test_the_envelopes_checks_find_what_the_generic_walk_finds(attribute: str, value: str) -> None:
    event = {"specversion": "1.0", "id": "e-1", "type": "T", "source": "s", "subject": "L-1", "data": {},
             attribute: value}
    checked = _outcome(CloudEvent[dict[str, Any]], event)
    generic = tuple((name, kind, lambda v, _now, kind=kind: value_problem(kind, v, None))
                    for name, kind, _ in envelope._ENVELOPE_BOUNDS)
    with mock.patch.object(envelope, "_ENVELOPE_BOUNDS", generic):
        walked = _outcome(CloudEvent[dict[str, Any]], event)
    assert checked == walked


def test_the_generated_records_meet_every_kind_of_bound() -> None:
    """The generator above is not idle: among its records some break each kind of bound the checks skip or keep.

    Derandomized (hypothesis is pinned in deploy/constraints.txt), so that a rare kind, one in a hundred records,
    cannot go missing on one run in a few hundred: the answer is the same on every machine and every run."""
    words = set()

    @settings(max_examples=1500, deadline=None, database=None, derandomize=True)
    @given(spoilt())
    def collect(case: tuple[str, dict[str, Any]]) -> None:
        outcome = _outcome(MODELS[case[0]], case[1])
        if isinstance(outcome, list):
            words.update(msg for _, msg in outcome)

    collect()
    found = " ".join(words)
    for kind in ("an identifier must be printable", "control characters", "characters, at most 128",
                 "characters, at most 256", "outside the 32-bit range", "ahead of the receiver's clock",
                 "items, at most"):
        assert kind in found, kind
