"""A real Prometheus for a test run, and a small client of its HTTP API.

Started once per run by the project's own launcher (deploy/prometheus.sh, what `make up` runs), with the real alert
rules of deploy/prometheus/alerts.yml, scraping the run's service processes at their test ports every second.
Its data, pid and log live under .local/test/prometheus, named by its port: POSTLOAN_TEST_PROMETHEUS_PORT, by
default POSTLOAN_TEST_PORT_BASE + 50 (the services use base + 1 ... base + 5; the test Keycloak, 18080 and
its management port 18090 by default), so runs in two checkouts differ.
"""

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import httpx

from harness.infra import ROOT, TEST_STATE
from tests.support.services import _PORT_BASE, SERVICES

TEST_PROMETHEUS_PORT = int(os.environ.get("POSTLOAN_TEST_PROMETHEUS_PORT", str(_PORT_BASE + 50)))
INTERVAL = "1s"  # scrape and rule evaluation: a test sees a change within seconds


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float
    at: float  # the evaluation time (Unix seconds, Prometheus's clock)


class Prometheus:
    """The HTTP API of a running Prometheus (/api/v1/query, /api/v1/alerts, /api/v1/rules)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _get(self, path: str, **params: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.get(path, params=params)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    async def query(self, expr: str) -> list[Sample]:
        """An instant vector query, evaluated now."""
        data = await self._get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", data
        return [Sample(r["metric"], float(r["value"][1]), float(r["value"][0])) for r in data["result"]]

    async def alerts(self) -> list[dict[str, Any]]:
        """The alerts pending or firing now, as the alerts page lists them."""
        return list((await self._get("/api/v1/alerts"))["alerts"])

    async def page(self, path: str) -> str:
        """A page or API answer as Prometheus sends it: /api/v1/alerts (the alerts as data), /classic/alerts (the
        alerts page of the classic web UI, the one Debian's package serves)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.get(path)
        response.raise_for_status()
        return response.text

    async def last_evaluated(self, rule: str) -> float:
        """When the alerting rule `rule` was last evaluated (Unix seconds, Prometheus's clock)."""
        groups = (await self._get("/api/v1/rules", type="alert"))["groups"]
        [found] = [r for g in groups for r in g["rules"] if r["name"] == rule]
        return datetime.fromisoformat(found["lastEvaluation"]).timestamp()


def _environment() -> dict[str, str]:
    return {
        **os.environ,
        "PROMETHEUS_PORT": str(TEST_PROMETHEUS_PORT),
        "PROMETHEUS_INTERVAL": INTERVAL,
        "PROMETHEUS_FRESH": "1",  # series of an earlier run would stand in for this run's
        "POSTLOAN_STATE_DIR": str(TEST_STATE),
        **{f"{name.upper()}_HTTP_PORT": str(info.test_port) for name, info in SERVICES.items()},
    }


def _launch(command: str) -> str:
    result = subprocess.run([str(ROOT / "deploy" / "prometheus.sh"), command], env=_environment(),
                            capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"deploy/prometheus.sh {command} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


@contextlib.contextmanager
def running_prometheus() -> Iterator[Prometheus]:
    """Prometheus started for the block, stopped after it (its data is wiped on the next start)."""
    _launch("start")
    try:
        yield Prometheus(_launch("address"))
    finally:
        _launch("stop")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in _HIDDEN

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in _HIDDEN

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.lines.append(" ".join(data.split()))


_HIDDEN = frozenset({"head", "script", "style", "nav"})


def page_text(html: str) -> str:
    """A web page's visible text, a line per text node (a text dump of the alerts page)."""
    parser = _Text()
    parser.feed(html)
    return "\n".join(parser.lines) + "\n"
