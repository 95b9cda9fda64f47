"""The field gauges with several workers: each series exported exactly once, with its value."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.telemetry.helpers import perfbeacon_serving, served_env


def test_with_two_workers_each_series_is_exported_once_with_its_value(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = served_env(
        f"sqlite+aiosqlite:///{tmp_path / 'pb.db'}",
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        PERFBEACON_ADMIN_TOKEN="test-admin-token-0123456789abcdef",
        PERFBEACON_FIELD_GAUGE_INTERVAL_SECONDS="0.5",
    )
    output = tmp_path / "serve.log"
    with perfbeacon_serving("--workers", "2", env=env, cwd=tmp_path, output=output) as (
        base_url,
        _,
    ):
        site = httpx.post(
            f"{base_url}/api/v1/sites",
            json={"name": "shop", "origins": ["https://shop.example"]},
            headers={"Authorization": "Bearer test-admin-token-0123456789abcdef"},
        ).json()
        metrics = [
            {"name": "LCP", "value": 1000.0 + 10 * i, "delta": 1000.0 + 10 * i, "id": f"v5-{i}"}
            for i in range(50)
        ]
        sent = httpx.post(
            f"{base_url}/api/vitals",
            content=json.dumps({"site": site["key"], "page": "/", "metrics": metrics}),
            headers={"Content-Type": "text/plain", "Origin": "https://shop.example"},
        )
        assert sent.status_code == 204, sent.text
        expected = httpx.get(
            f"{base_url}/api/v1/sites/{site['key']}/summary?metric=LCP&from=24h",
            headers={"Authorization": f"Bearer {site['read_token']}"},
        ).json()["metrics"]["LCP"]["p75"]
        deadline = time.monotonic() + 30
        scrapes: list[str] = []
        while time.monotonic() < deadline and len(scrapes) < 8:
            text = httpx.get(f"{base_url}/metrics").text
            if "perfbeacon_field_p75{" in text:
                scrapes.append(text)
            else:
                time.sleep(0.2)
    assert len(scrapes) == 8, output.read_text()[-2000:]
    for text in scrapes:
        lines = [line for line in text.splitlines() if line.startswith("perfbeacon_field_p75{")]
        # One series (one device seen), not one per worker, and not summed.
        assert len(lines) == 1, lines
        assert float(lines[0].rsplit(" ", 1)[1]) == pytest.approx(expected)
