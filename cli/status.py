"""`postloan status`: each service's figures read from its /metrics (lag, outbox, timers, dead letters), beside
the health of the local stack's parts. A service that does not answer is shown as down, with the lag of its
group as the console measures it (the console watches every service's group)."""

import asyncio
import os
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.table import Table

from services import SERVICES

Samples = list[tuple[str, dict[str, str], float]]


@dataclass(frozen=True)
class Figures:
    service: str
    up: bool
    ready: bool | None = None
    lag: int | None = None  # records behind, summed over the partitions of the service's group
    outbox_unsent: int | None = None
    outbox_oldest_s: float | None = None
    outbox_parked: int | None = None
    timers_due: int | None = None
    timers_parked: int | None = None
    dead_lettered: int | None = None  # records this copy sent to dead-letter topics since it started
    relay_leader: bool | None = None


def parse(text: str) -> Samples:
    return [(s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def _one(samples: Samples, name: str) -> float | None:
    return next((v for n, _, v in samples if n == name), None)


def lag_of(samples: Samples, group: str) -> int | None:
    found = [v for n, labels, v in samples if n == "postloan_consumer_lag" and labels.get("group") == group]
    return int(sum(found)) if found else None


def figures(service: str, samples: Samples, *, group: str | None = None) -> Figures:
    def whole(name: str) -> int | None:
        found = _one(samples, name)
        return None if found is None else int(found)

    ready, leader = _one(samples, "postloan_ready"), _one(samples, "postloan_relay_leader")
    dead = [v for n, _, v in samples if n == "postloan_dead_letters_total"]
    return Figures(
        service=service, up=True, ready=None if ready is None else ready == 1,
        lag=lag_of(samples, group or f"postloan.{service}"), outbox_unsent=whole("postloan_outbox_unsent"),
        outbox_oldest_s=_one(samples, "postloan_outbox_oldest_unsent_age_seconds"),
        outbox_parked=whole("postloan_outbox_parked"), timers_due=whole("postloan_timers_due"),
        timers_parked=whole("postloan_timers_parked"), dead_lettered=int(sum(dead)),
        relay_leader=None if leader is None else leader == 1)


def url(service: str, host: str = "127.0.0.1") -> str:
    """The service's address as the scripts run it (<NAME>_HTTP_PORT overrides the port, as in services.sh)."""
    return f"http://{host}:{os.environ.get(f'{service.upper()}_HTTP_PORT', SERVICES[service])}"


async def _scrape(client: httpx.AsyncClient, service: str) -> Samples | None:
    try:
        response = await client.get(f"{url(service)}/metrics")
    except httpx.HTTPError:
        return None
    return parse(response.text) if response.status_code == 200 else None


async def collect() -> list[Figures]:
    async with httpx.AsyncClient(timeout=5) as client:
        scraped = dict(zip(SERVICES, await asyncio.gather(*(_scrape(client, s) for s in SERVICES)), strict=True))
    console = scraped.get("console") or []
    return [figures(s, found) if found is not None
            else Figures(service=s, up=False, lag=lag_of(console, f"postloan.{s}"))
            for s, found in scraped.items()]


def _cell(value: object, *, bad: bool = False) -> str:
    if value is None:
        return "—"
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    return f"[red]{text}[/red]" if bad else text


def table(rows: list[Figures]) -> Table:
    out = Table(title="services (from /metrics): lag, outbox, timers due, dead letters sent", box=box.SIMPLE_HEAD,
                pad_edge=False)
    # Short headings: the table fits an 80-column terminal (outbox: unsent, oldest unsent age, parked rows).
    out.add_column("service", min_width=12, no_wrap=True)
    for column in ("state", "lag", "unsent", "oldest s", "parked", "timers", "t.parked", "dlq", "relay"):
        out.add_column(column)
    for f in rows:
        state = ("[red]down[/red]" if not f.up else "ready" if f.ready else "[red]not ready[/red]")
        out.add_row(f.service, state, _cell(f.lag, bad=bool(f.lag)), _cell(f.outbox_unsent),
                    _cell(f.outbox_oldest_s, bad=(f.outbox_oldest_s or 0) > 60), _cell(f.outbox_parked,
                                                                                        bad=bool(f.outbox_parked)),
                    _cell(f.timers_due), _cell(f.timers_parked, bad=bool(f.timers_parked)),
                    _cell(f.dead_lettered, bad=bool(f.dead_lettered)),
                    _cell(None if f.relay_leader is None else "leads" if f.relay_leader else "standby"))
    return out
