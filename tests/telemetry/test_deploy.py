"""Deployment files: the Prometheus config and rules, the compose file, the Grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from collector.telemetry.field_gauges import FieldCollector, FieldSnapshot
from collector.telemetry.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
_METRIC_NAME = re.compile(r"\b(?:http|perfbeacon)_[a-z0-9_]+")
_SAMPLE_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def _exposed_metric_names() -> set[str]:
    registry = Metrics(registry=CollectorRegistry()).registry
    registry.register(FieldCollector(FieldSnapshot()))
    return {family.name for family in registry.collect()}


def _referenced_metric_names(text: str) -> set[str]:
    names = set()
    for name in _METRIC_NAME.findall(text):
        for suffix in _SAMPLE_SUFFIXES:
            name = name.removesuffix(suffix)
        names.add(name)
    return names


def test_promtool_accepts_the_prometheus_config_and_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    result = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 rules found" in result.stdout + result.stderr


def test_compose_file_is_valid() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_wires_the_watchers_to_perfbeacon() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"perfbeacon", "postgres", "prometheus", "grafana", "otel-collector", "jaeger"} <= set(
        services
    )
    environment = services["perfbeacon"]["environment"]
    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert environment["PERFBEACON_DATABASE_URL"].startswith("postgresql+asyncpg://")
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["perfbeacon:8000"]


def test_dockerfile_runs_unprivileged_and_checks_readiness() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert users
    assert users[-1] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*\n.*/ready", dockerfile, flags=re.MULTILINE)


def test_dashboard_and_alerts_use_metrics_perfbeacon_exposes() -> None:
    dashboard = json.loads((DEPLOY / "grafana/dashboards/perfbeacon.json").read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    assert expressions
    alerts = (DEPLOY / "alerts.yml").read_text()
    referenced = _referenced_metric_names("\n".join(expressions) + alerts)
    assert referenced <= _exposed_metric_names()
    assert "http_request_duration_seconds" in referenced
