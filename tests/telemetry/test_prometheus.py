"""A real Prometheus (Debian's ``prometheus``) scraping a running perfbeacon."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import free_port
from tests.telemetry.helpers import perfbeacon_serving, served_env
from tests.waiting import wait_until

SQLITE = "sqlite+aiosqlite:///./perfbeacon.db"
HEALTH_REQUESTS = 5
WAIT_SECONDS = 45


@contextmanager
def prometheus_scraping(target: str, directory: Path) -> Iterator[str]:
    """Run Prometheus scraping ``target`` every second; yield its base URL."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: perfbeacon\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    port = free_port()
    with (directory / "prometheus.log").open("w") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--enable-feature=exemplar-storage",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _api(base_url: str, path: str, **params: str) -> Any:
    try:
        response = httpx.get(f"{base_url}/api/v1/{path}", params=params, timeout=2)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    return response.json()["data"]


def _wait_for(description: str, probe: Any) -> Any:
    value = wait_until(probe, within=WAIT_SECONDS, interval=0.5)
    assert value, f"Prometheus never showed {description} within {WAIT_SECONDS} s"
    return value


def test_prometheus_scrapes_metrics_and_trace_exemplars(tmp_path: Path) -> None:
    env = served_env(SQLITE, OTEL_TRACES_EXPORTER="console", OTEL_TRACES_SAMPLER="always_on")
    output = tmp_path / "perfbeacon.log"
    with perfbeacon_serving(env=env, cwd=tmp_path, output=output) as (base_url, _):
        for _ in range(HEALTH_REQUESTS):
            assert httpx.get(f"{base_url}/health").status_code == 200
        target = base_url.removeprefix("http://")
        with prometheus_scraping(target, tmp_path) as prometheus:
            query = 'http_request_duration_seconds_count{job="perfbeacon",route="/health"}'

            def scraped_health() -> list[Any] | None:
                data = _api(prometheus, "query", query=query)
                return data["result"] if data else None

            (series,) = _wait_for("the /health request count", scraped_health)

            def exemplars() -> list[Any] | None:
                now = time.time()
                return _api(
                    prometheus,
                    "query_exemplars",
                    query='http_request_duration_seconds_bucket{route="/health"}',
                    start=str(now - 600),
                    end=str(now + 60),
                )

            exemplar_series = _wait_for("exemplars", exemplars)
            targets = _api(prometheus, "targets")

    assert series["metric"]["method"] == "GET"
    assert series["metric"]["status"] == "200"
    # The readiness polling of the test helper adds requests of its own.
    assert float(series["value"][1]) >= HEALTH_REQUESTS
    trace_ids = {
        exemplar["labels"]["trace_id"] for item in exemplar_series for exemplar in item["exemplars"]
    }
    assert trace_ids
    assert all(re.fullmatch(r"[0-9a-f]{32}", trace_id) for trace_id in trace_ids)
    (active,) = targets["activeTargets"]
    assert active["health"] == "up"
    assert active["lastError"] == ""
