"""The alert rules (deploy/prometheus/alerts.yml) and the Prometheus configuration, proved by promtool, the tool of
the Prometheus that runs them (Debian's package, installed by deploy/prometheus.sh install, which `make test` runs).

promtool's unit tests (alerts.test.yml) give each alert series that fire and series that do not; a test here makes
sure no alert goes without either, so a new rule without tests fails."""

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services import SERVICES

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
SEVERITIES = {"critical", "warning"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: deploy/prometheus.sh install (make test runs it) puts Debian's prometheus in"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120, check=False)


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def rule_tests() -> list[dict[str, Any]]:
    """Every alert_rule_test case of alerts.test.yml, whichever test block holds it."""
    doc = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    return [case for test in doc["tests"] for case in test.get("alert_rule_test", [])]


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_every_alert_behaves_as_its_promtool_tests_say() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_fails_a_rule_that_breaks_its_tests(tmp_path: Path) -> None:
    """The run above proves something: the same tests against a rule with a lower threshold fail."""
    text, threshold = RULES.read_text(encoding="utf-8"), "(postloan_consumer_lag)) > 500"
    assert threshold in text
    (tmp_path / "alerts.yml").write_text(text.replace(threshold, threshold.replace("500", "200")), encoding="utf-8")
    shutil.copy(RULE_TESTS, tmp_path / "alerts.test.yml")
    result = promtool("test", "rules", str(tmp_path / "alerts.test.yml"))
    assert result.returncode != 0
    assert "alertname: PostloanConsumerLagHigh" in result.stdout + result.stderr


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_every_alert_has_a_case_that_fires_and_one_that_does_not(rule: dict[str, Any]) -> None:
    cases = [case for case in rule_tests() if case["alertname"] == rule["alert"]]
    assert any(case.get("exp_alerts") for case in cases), f"{rule['alert']}: no promtool case where it fires"
    assert any(not case.get("exp_alerts") for case in cases), f"{rule['alert']}: no promtool case where it does not"


def test_every_promtool_case_names_an_alert_of_the_rules() -> None:
    """A case naming a renamed or removed alert would always pass its empty expectations."""
    names = {rule["alert"] for rule in alerts()}
    assert {case["alertname"] for case in rule_tests()} <= names


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_every_alert_says_how_bad_and_what_happened(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["alert"].startswith("Postloan")
    annotations = rule["annotations"]
    assert annotations["summary"] and annotations["description"]
    assert "{{ $labels." in annotations["summary"] + annotations["description"], "say which service/group/topic"


def render(**env: str) -> str:
    result = subprocess.run([str(ROOT / "deploy" / "prometheus.sh"), "config"], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=60, check=True)
    return result.stdout


def scrape_jobs(config: str) -> dict[str, list[str]]:
    return {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
            for job in yaml.safe_load(config)["scrape_configs"]}


def test_the_native_configuration_scrapes_every_service_on_its_port_and_loads_the_rules(tmp_path: Path) -> None:
    config = render(PROMETHEUS_INTERVAL="1s", REQUESTS_HTTP_PORT="18701")
    assert scrape_jobs(config) == {
        f"postloan-{name}": [f"127.0.0.1:{18701 if name == 'requests' else port}"] for name, port in SERVICES.items()
    }
    doc = yaml.safe_load(config)
    assert doc["global"] == {"scrape_interval": "1s", "evaluation_interval": "1s"}
    assert [Path(f).resolve() for f in doc["rule_files"]] == [RULES]
    (tmp_path / "prometheus.yml").write_text(config, encoding="utf-8")
    result = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_the_compose_configuration_reaches_each_service_by_its_name(tmp_path: Path) -> None:
    """What docker-compose.yml's prometheus-config renders (there the rules are mounted elsewhere: checked here
    from the project's folder)."""
    config = render(PROMETHEUS_TARGET_HOST="service", PROMETHEUS_RULES_DIR=str(RULES.parent))
    assert scrape_jobs(config) == {f"postloan-{name}": [f"{name}:{port}"] for name, port in SERVICES.items()}
    assert yaml.safe_load(config)["global"]["scrape_interval"] == "15s"
    (tmp_path / "prometheus.yml").write_text(config, encoding="utf-8")
    result = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_prometheus_on_the_rendered_configuration_and_the_same_rules() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    config, prometheus = compose["prometheus-config"], compose["prometheus"]
    assert config["environment"]["PROMETHEUS_TARGET_HOST"] == "service"
    rules_dir = config["environment"]["PROMETHEUS_RULES_DIR"]
    assert f"./deploy/prometheus:{rules_dir}:ro" in prometheus["volumes"]
    assert "deploy/prometheus.sh config > /config/prometheus.yml" in " ".join(config["command"])
    assert "--config.file=/config/prometheus.yml" in prometheus["command"]
    assert prometheus["image"] == "prom/prometheus:v2.42.0"  # the release of Debian's package
