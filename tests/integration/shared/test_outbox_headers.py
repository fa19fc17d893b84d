"""The relay reads a row's headers from the jsonb's text as PostgreSQL writes it out (shared.outbox.headers_of_text),
without a JSON parser for the two lists an event's row holds. Whatever a row holds, the result is what parsing
would give: generated header lists (traceparent-like values with quotes, backslashes, control characters and
other scripts included), written out by the real PostgreSQL."""

import json

import asyncpg
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.infra import Infra
from shared import outbox, tracing

_HEX = st.text("0123456789abcdef-", min_size=55, max_size=55)
_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00")  # jsonb holds no NUL
_NEAR = st.text(_CHARS, min_size=55, max_size=55)  # a traceparent's length, anything in it
_ESCAPED = st.builds(  # `n` characters that JSON writes as two, then filler: 55 characters written out, a traceparent's
    lambda n, fill, char: char * n + fill[:55 - 2 * n], st.integers(1, 27), _HEX, st.sampled_from(['"', "\\", "\n"]))
_VALUE = st.one_of(_HEX, _NEAR, _ESCAPED, st.text(_CHARS, max_size=80))
_PAIR = st.tuples(st.sampled_from(["content-type", tracing.TRACEPARENT, "x-other"]), _VALUE)
_EVENT = st.builds(lambda tp: [list(outbox._CONTENT_TYPE), [tracing.TRACEPARENT, tp]], st.one_of(_HEX, _NEAR, _ESCAPED))
_LISTS = st.one_of(_EVENT, st.lists(st.builds(list, _PAIR), max_size=3), st.just([list(outbox._CONTENT_TYPE)]))


def _generated() -> list[list[list[str]]]:
    found: list[list[list[str]]] = []

    @settings(max_examples=400, database=None)
    @given(_LISTS)
    def collect(headers: list[list[str]]) -> None:
        found.append(headers)

    collect()
    return found


async def test_headers_read_from_postgresqls_text_are_what_parsing_them_gives(migrated: Infra) -> None:
    cases = [json.dumps(h) for h in _generated()]
    conn = await asyncpg.connect(migrated.database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        written = await conn.fetchval("SELECT array_agg(CAST(CAST(j AS jsonb) AS text) ORDER BY n) "
                                      "FROM unnest($1::text[]) WITH ORDINALITY AS t(j, n)", cases)
    finally:
        await conn.close()
    fast = 0
    for case, text in zip(cases, written, strict=True):
        expected = outbox.kafka_headers(json.loads(case))
        assert outbox.headers_of_text(text) == expected, text
        fast += text == outbox._UNTRACED_JSON or text.startswith(outbox._PG_TRACED)
    assert fast >= len(cases) // 10, "the generated rows must exercise the parser-free shapes too"
