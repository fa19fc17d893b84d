"""The Grafana dashboard (deploy/grafana/postloan.json) against the metric catalogue of docs/observability.md: it
queries no metric the services do not serve (a rename shows here), every metric of the catalogue is on some panel,
and every query is PromQL that Prometheus accepts (checked by promtool, as recording rules)."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_alert_rules import promtool

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "postloan.json"
CATALOGUE = ROOT / "docs" / "observability.md"
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
# Grafana's own variables, replaced by what Grafana would put there before promtool reads the queries.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$job": "postloan-.*"}


def catalogue() -> dict[str, str]:
    """Metric name -> type, from the catalogue's table rows (`| postloan_... | type | labels | meaning |`)."""
    rows = re.findall(r"^\|\s*`?(postloan_\w+)`?\s*\|\s*([^|]+?)\s*\|", CATALOGUE.read_text(encoding="utf-8"), re.M)
    return dict(rows)


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text(encoding="utf-8")))


def panels() -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    found = []
    for panel in dashboard()["panels"]:
        found += [panel, *panel.get("panels", [])]
    return [p for p in found if p["type"] != "row"]


def queries() -> list[str]:
    """Every PromQL expression of the dashboard: the panels' and the variables'."""
    variables = [v["definition"] for v in dashboard()["templating"]["list"] if v["type"] == "query"]
    return [t["expr"] for p in panels() for t in p["targets"]] + variables


def metric_of(series: str, known: dict[str, str]) -> str:
    """A histogram's _bucket/_sum/_count series are its metric's."""
    for suffix in HISTOGRAM_SERIES:
        base = series.removesuffix(suffix)
        if base != series and known.get(base, "").startswith("histogram"):
            return base
    return series


def queried_metrics() -> set[str]:
    known = catalogue()
    return {metric_of(name, known) for expr in queries() for name in re.findall(r"\bpostloan_\w+", expr)}


def test_the_catalogue_is_read() -> None:
    """The parse below found the table (a reformatted table would otherwise make every check vacuous)."""
    known = catalogue()
    assert len(known) >= 20 and known["postloan_consumer_lag"] == "gauge"
    assert known["postloan_command_to_event_seconds"] == "histogram"


def test_the_dashboard_queries_only_metrics_of_the_catalogue() -> None:
    assert queried_metrics() - set(catalogue()) == set()


def test_every_metric_of_the_catalogue_is_on_a_panel() -> None:
    assert set(catalogue()) - queried_metrics() == set()


def test_every_panel_reads_the_chosen_prometheus() -> None:
    [variable] = [v for v in dashboard()["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": f"${{{variable['name']}}}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]


def test_panels_have_unique_ids_and_titles() -> None:
    ids = [p["id"] for p in dashboard()["panels"] + [q for p in dashboard()["panels"] for q in p.get("panels", [])]]
    assert len(ids) == len(set(ids))
    titles = [p["title"] for p in panels()]
    assert len(titles) == len(set(titles))


@pytest.mark.parametrize("needle", ["postloan_consumer_lag", "postloan_command_to_event_seconds_bucket"])
def test_the_lag_and_latency_panels_aggregate_as_the_alerts_do(needle: str) -> None:
    """Lag: the max over reporters before adding partitions (the console reports every group too); latency:
    quantiles from the histogram's buckets, per command type."""
    exprs = [e for e in queries() if needle in e]
    assert exprs
    if needle == "postloan_consumer_lag":
        assert any("max by (group, topic, partition)" in e for e in exprs)
    else:
        assert {q for e in exprs for q in re.findall(r"histogram_quantile\((0\.\d+)", e)} >= {"0.5", "0.95", "0.99"}


def test_every_query_is_promql_prometheus_accepts(tmp_path: Path) -> None:
    def concrete(expr: str) -> str:
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"a Grafana variable promtool cannot read: {expr}"
        return expr

    exprs = [concrete(e) for e in queries() if not e.startswith("label_values(")]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(exprs)]}]}
    (tmp_path / "queries.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = promtool("check", "rules", str(tmp_path / "queries.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout
