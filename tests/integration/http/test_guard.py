"""Every bad input is a 4xx, never a 500 (SPEC §10), on all four services' HTTP APIs over real HTTP: undecodable or
control characters in a path or a query are refused before any route (400), bodies over the limit get 413, and
integers, dates and cursors are bounded where they are declared."""

import base64
import json

import pytest

from tests.integration.http.conftest import Served

AVAILABILITY = "/branches/SZ-FUTIAN/availability"
# Per service: a path with an identifier in it, and a query, both reaching the database when valid.
PATHS = {
    "requests": ("/loans/{}", "/requests?deadline_before=2020-03-01&state={}"),
    "confirmation": ("/paper/requests/{}", "/paper/owed?branch_id={}"),
    "appointments": ("/branches/{}/availability?from=2020-02-03&to=2020-02-04",
                     AVAILABILITY + "?from=2020-02-03&to={}"),
    "notifier": ("/customers/{}/deliveries", "/customers/C-1/deliveries?limit=5&cursor={}"),
}
BAD = {"nul": "%00", "nul-inside": "L-1%00x", "control": "%01", "escape": "%1B", "newline": "%0A", "delete": "%7F",
       "not-utf-8": "%FF", "truncated-utf-8": "%C3%28"}


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize("name", PATHS)
async def test_a_control_character_or_undecodable_byte_in_a_path_or_query_is_a_400(
    name: str, bad: str, platform: dict[str, Served]
) -> None:
    path, query = PATHS[name]
    async with platform[name].client() as client:
        for url in (path.format(bad), query.format(bad)):
            response = await client.get(url)
            assert response.status_code == 400, (url, response.status_code, response.text)
            assert "not allowed" in response.json()["detail"] or "UTF-8" in response.json()["detail"]
        assert (await client.get(path.format("X-1"))).status_code in (200, 404)  # and the service goes on


@pytest.mark.parametrize("name", PATHS)
async def test_an_identifier_over_128_characters_is_refused(name: str, platform: dict[str, Served]) -> None:
    path, query = PATHS[name]
    async with platform[name].client() as client:
        assert (await client.get(path.format("x" * 129))).status_code == 400
        assert (await client.get(path.format("x" * 128))).status_code in (200, 404)
        assert 400 <= (await client.get(query.format("x" * 600))).status_code < 500


BODIES = {"requests": ("PUT", "/policy"), "confirmation": ("POST", "/tasks/next"),
          "appointments": ("POST", "/health"), "notifier": ("POST", "/health")}


@pytest.mark.parametrize("name", BODIES)
async def test_a_body_over_the_limit_is_a_413_declared_or_streamed(name: str, platform: dict[str, Served]) -> None:
    method, path = BODIES[name]
    limit = platform[name].runtime.settings.http_max_body_bytes
    body = json.dumps({"agent_id": "A-1", "changed_by": "ops", "preset": "epidemic-2020", "pad": "x" * limit})

    async def chunks():  # type: ignore[no-untyped-def]  # no content-length: the guard counts as it reads
        for start in range(0, len(body), 8192):
            yield body[start:start + 8192].encode()

    async with platform[name].client() as client:
        declared = await client.request(method, path, content=body, headers={"content-type": "application/json"})
        streamed = await client.request(method, path, content=chunks(), headers={"content-type": "application/json"})
        assert (await client.get("/health")).status_code in (200, 503)
    assert (declared.status_code, streamed.status_code) == (413, 413), (declared.text, streamed.text)
    assert str(limit) in declared.json()["detail"]


@pytest.mark.parametrize("url", [
    "/requests?limit=0", "/requests?limit=1001", "/requests?limit=99999999999999999999999",
    "/requests?deadline_before=2020-02-30", "/requests?deadline_before=10000-01-01", "/requests?state=OPENED",
    "/policy/history?before=0", "/policy/history?before=99999999999999999999999", "/policy/history?limit=-1",
    "/loans/L-1/requests?limit=1000000", "/requests?cursor=not*a*cursor", "/requests?cursor=AAAA",
])
async def test_requests_bounds_integers_dates_and_cursors(url: str, platform: dict[str, Served]) -> None:
    async with platform["requests"].client() as client:
        response = await client.get(url)
    assert 400 <= response.status_code < 500, (url, response.status_code, response.text)


def _cursor(*key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("name", "path", "cursor"), [
    ("requests", "/requests", _cursor("2020-02-10", "2020-02-03T09:00:00+08:00", "R-\u0000")),
    ("requests", "/requests", _cursor("2020-02-10", "2020-02-03T09:00:00", "R-1")),  # no time zone
    ("requests", "/loans/L-1/requests", _cursor("2020-02-03T09:00:00+08:00", "x" * 129)),
    ("confirmation", "/tasks", _cursor("2020-02-10", "2020-02-03T09:00:00+08:00", 7)),
    ("confirmation", "/paper/owed", _cursor("B", "2020-02-03T09:00:00+08:00", "R", "C", "extra")),
    ("notifier", "/events/E-1/deliveries", _cursor("99999-01-01T00:00:00+08:00", "N-1")),
    ("notifier", "/customers/C-1/deliveries", _cursor({"a": 1})),
])
async def test_a_cursor_the_service_did_not_give_out_is_a_400(
    name: str, path: str, cursor: str, platform: dict[str, Served]
) -> None:
    async with platform[name].client() as client:
        response = await client.get(path, params={"cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json()["detail"], response.text


@pytest.mark.parametrize(("start", "end", "status"), [
    ("2020-02-03", "2020-03-05", 200),  # 31 days after 'from'
    ("2020-02-03", "2020-03-06", 422),  # 32
    ("2020-02-04", "2020-02-03", 422),
    ("9999-12-01", "9999-12-31", 200),  # the last dates a date can hold: nothing overflows
    ("0001-01-01", "0001-01-02", 200),
    ("2020-02-30", "2020-03-01", 422),
    ("0000-01-01", "0000-01-02", 422),
])
async def test_availability_takes_valid_dates_over_at_most_31_days(
    start: str, end: str, status: int, platform: dict[str, Served]
) -> None:
    async with platform["appointments"].client() as client:
        response = await client.get(AVAILABILITY, params={"from": start, "to": end})
    assert response.status_code == status, response.text


@pytest.mark.parametrize("body", [
    {"agent_id": "A-\u0000"}, {"agent_id": "A-\u0007"}, {"agent_id": ""}, {"agent_id": "A" * 129}, {"agent_id": 7},
    {"agent_id": " "},
])
async def test_a_dispatch_body_with_a_bad_agent_id_is_a_422(body: dict[str, object],
                                                             platform: dict[str, Served]) -> None:
    async with platform["confirmation"].client() as client:
        assert (await client.post("/tasks/next", json=body)).status_code == 422
        assert (await client.post("/tasks/T-1/renew", json=body)).status_code == 422
