"""Prometheus config and alerts (promtool), the Grafana dashboard and its provisioning."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

METRIC = re.compile(r"\bcodelab_[a-z_]+\b")
PORTS = {"auth": 8081, "gateway": 8082, "runtime": 8083, "llm-proxy": 8084}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture(scope="module")
def dashboard(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (root / "deploy/grafana/dashboards/codelab-overview.json").read_text()
    )
    return data


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_promtool_check_config(root: Path) -> None:
    result = _promtool("check", "config", str(root / "deploy/prometheus/prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules(root: Path) -> None:
    result = _promtool("check", "rules", str(root / "deploy/prometheus/alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_alert_unit_tests(root: Path) -> None:
    result = _promtool("test", "rules", str(root / "deploy/prometheus/alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_targets_are_every_compose_replica(root: Path) -> None:
    config = yaml.safe_load((root / "deploy/prometheus/prometheus.yml").read_text())
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]
    scraped = {
        target
        for job in config["scrape_configs"]
        if job["job_name"].startswith("codelab-")
        for static in job["static_configs"]
        for target in static["targets"]
    }
    expected = {
        f"{name}:{PORTS[spec['build']['args']['SERVICE']]}"
        for name, spec in compose.items()
        if "build" in spec and name != "auth-init"
    }
    assert scraped == expected


def test_alerts_cover_the_required_conditions(root: Path) -> None:
    groups = yaml.safe_load((root / "deploy/prometheus/alerts.yml").read_text())["groups"]
    alerts = {r["alert"]: r["expr"] for g in groups for r in g["rules"]}
    assert "up{" in alerts["CodelabServiceDown"]
    assert 'status=~"5.."' in alerts["CodelabHigh5xxRatio"]
    assert 'outcome="error"' in alerts["CodelabLlmProviderErrors"]
    assert "codelab_gateway_auth_failures_total" in alerts["CodelabGatewayAuthFailuresSpike"]


def test_alert_and_dashboard_metrics_exist(
    root: Path, dashboard: dict[str, Any], exported_series: set[str]
) -> None:
    groups = yaml.safe_load((root / "deploy/prometheus/alerts.yml").read_text())["groups"]
    exprs = [r["expr"] for g in groups for r in g["rules"]] + _exprs(dashboard)
    used = {m for e in exprs for m in METRIC.findall(e)}
    assert len(used) >= 12
    missing = used - exported_series
    assert not missing, f"no service exports {sorted(missing)}"


def test_dashboard_covers_every_required_metric(dashboard: dict[str, Any]) -> None:
    used = {m for e in _exprs(dashboard) for m in METRIC.findall(e)}
    required = {
        "codelab_http_requests_total",
        "codelab_http_request_duration_seconds_bucket",
        "codelab_gateway_websocket_connections",
        "codelab_gateway_sse_streams",
        "codelab_gateway_messages_relayed_total",
        "codelab_gateway_auth_failures_total",
        "codelab_runtime_turns_total",
        "codelab_runtime_tool_calls_total",
        "codelab_runtime_mode_switches_total",
        "codelab_llm_requests_total",
        "codelab_llm_tokens_total",
        "codelab_llm_request_duration_seconds_bucket",
        "codelab_llm_time_to_first_token_seconds_bucket",
    }
    assert required <= used


def test_dashboard_shape(root: Path, dashboard: dict[str, Any]) -> None:
    assert dashboard["title"] == "CodeLab overview"
    provisioning = root / "deploy/grafana/provisioning"
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["url"] == "http://prometheus:9090"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    providers = yaml.safe_load((provisioning / "dashboards/codelab.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboard_queries_are_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    # promtool has no "check expression"; a rules file of recording rules checks the same.
    rules = [
        {"record": f"codelab:dashboard_query_{i}", "expr": e.replace("$__rate_interval", "5m")}
        for i, e in enumerate(_exprs(dashboard))
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
