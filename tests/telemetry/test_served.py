"""``perfbeacon serve`` as operators run it: uvicorn's logs in the same JSON lines, and
metrics summed over several worker processes."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client import multiprocess
from prometheus_client.parser import text_string_to_metric_families

from tests.telemetry.helpers import perfbeacon_serving, served_env
from tests.waiting import wait_until

SQLITE = "sqlite+aiosqlite:///./perfbeacon.db"
COUNTED_ROUTE = "/api/v1/sites"
BATCH = 40
MAX_BATCHES = 10


@pytest.fixture
def json_env() -> dict[str, str]:
    """The environment of a served perfbeacon with JSON logs and no tracing."""
    return served_env(SQLITE, PERFBEACON_LOG_FORMAT="json")


def test_uvicorn_and_access_lines_are_json_through_one_pipeline(
    json_env: dict[str, str], tmp_path: Path
) -> None:
    output = tmp_path / "serve.log"
    with perfbeacon_serving(env=json_env, cwd=tmp_path, output=output) as (base_url, _):
        httpx.get(f"{base_url}/health", headers={"Authorization": "Bearer not-for-logs-0123"})

    lines = [json.loads(line) for line in output.read_text().splitlines() if line.strip()]
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "perfbeacon.access"} <= loggers
    started = [line for line in lines if line["event"].startswith("Started server process")]
    assert started
    assert started[0]["level"] == "info"
    access = [line for line in lines if line["logger"] == "perfbeacon.access"]
    assert any(line["route"] == "/health" and line["status"] == 200 for line in access)
    assert "not-for-logs-0123" not in output.read_text()


def _counted_requests(base_url: str, count: int) -> None:
    def one(_: int) -> int:
        # A fresh connection each time, so the kernel spreads them over the workers.
        return httpx.get(base_url + COUNTED_ROUTE, headers={"Connection": "close"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(one, range(count))) == {401}


def _scraped_count(base_url: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{base_url}/metrics").text)
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "http_request_duration_seconds_count"
        and sample.labels["route"] == COUNTED_ROUTE
    )


def _wait_for_workers(output: Path, count: int, timeout: float = 60) -> None:
    # /health answers as soon as one worker is up; requests sent before the other
    # has started all go to the first, and the test would prove nothing.
    started = wait_until(
        lambda: output.read_text().count("Application startup complete"),
        done=lambda started: started >= count,
        within=timeout,
    )
    assert started >= count, f"{count} workers did not start:\n{output.read_text()}"


def _settled_counts(directory: Path, sent: int, timeout: float = 5) -> dict[str, float]:
    """Counts per worker once all ``sent`` requests are in (or as they are at ``timeout``).

    A request is counted when its event-loop iteration ends, just after its response
    went out: the client can look before the last one is in the shared files.
    """
    return wait_until(
        lambda: _count_per_worker(directory),
        done=lambda counts: sum(counts.values()) >= sent,
        within=timeout,
        interval=0.02,
    )


def _count_per_worker(directory: Path) -> dict[str, float]:
    counts = {}
    for path in directory.glob("histogram_*.db"):
        pid = path.stem.removeprefix("histogram_")
        counts[pid] = sum(
            sample.value
            for family in multiprocess.MultiProcessCollector.merge([str(path)])
            for sample in family.samples
            if sample.name == "http_request_duration_seconds_count"
            and sample.labels.get("route") == COUNTED_ROUTE
        )
    return counts


def test_metrics_are_summed_across_two_workers(json_env: dict[str, str], tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    # Left over from an earlier run: must not be counted again.
    (directory / "counter_1.db").write_bytes(b"stale")
    json_env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    output = tmp_path / "serve.log"

    with perfbeacon_serving("--workers", "2", env=json_env, cwd=tmp_path, output=output) as (
        base_url,
        _,
    ):
        _wait_for_workers(output, 2)
        assert not (directory / "counter_1.db").exists()
        sent = 0
        per_worker: dict[str, float] = {}
        for _ in range(MAX_BATCHES):
            _counted_requests(base_url, BATCH)
            sent += BATCH
            per_worker = _settled_counts(directory, sent)
            if sum(1 for count in per_worker.values() if count > 0) >= 2:
                break
        scrapes = [_scraped_count(base_url) for _ in range(6)]

    assert sum(1 for count in per_worker.values() if count > 0) == 2, per_worker
    assert sum(per_worker.values()) == sent
    # Whichever worker answered the scrape, it reported both workers' requests.
    assert scrapes == [sent] * len(scrapes)
    assert list(directory.iterdir()) == []
