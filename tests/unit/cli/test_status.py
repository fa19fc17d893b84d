"""`postloan status` reads its figures from the metrics' own exposition (a real registry's text, not a copy)."""

from cli.status import Figures, figures, lag_of, parse, table
from shared.metrics import ServiceMetrics


def exposition() -> str:
    m = ServiceMetrics("requests", "1.2.3")
    m.set_lag({("postloan.requests", "requests.commands", 0): 7, ("postloan.requests", "requests.commands", 1): 5,
               ("postloan.notifier", "requests.events", 0): 100})
    m.outbox_unsent.set(12)
    m.outbox_oldest_age.set(3.5)
    m.outbox_parked.set(1)
    m.timers_due.set(4)
    m.ready.set(1)
    m.relay_leader.set(1)
    m.dead_letters.labels("requests.commands", "not-json").inc(2)
    m.dead_letters.labels("loans.snapshots", "invalid-data").inc()
    return m.exposition().decode()


def test_the_figures_are_the_services_own_group_and_gauges() -> None:
    found = figures("requests", parse(exposition()))
    assert found == Figures(service="requests", up=True, ready=True, lag=12, outbox_unsent=12, outbox_oldest_s=3.5,
                            outbox_parked=1, timers_due=4, timers_parked=0, dead_lettered=3, relay_leader=True)


def test_a_group_nobody_reports_has_no_lag_rather_than_zero() -> None:
    samples = parse(exposition())
    assert lag_of(samples, "postloan.notifier") == 100
    assert lag_of(samples, "postloan.appointments") is None


def test_the_table_names_every_service_given() -> None:
    rows = [figures("requests", parse(exposition())), Figures(service="notifier", up=False, lag=100)]
    rendered = table(rows)
    assert [c.header for c in rendered.columns][:3] == ["service", "state", "lag"]
    assert rendered.row_count == 2
    assert list(rendered.columns[1].cells) == ["ready", "[red]down[/red]"]
