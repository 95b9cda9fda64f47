"""Access lines of beacons: one per request, or stored beacons only at debug when asked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector.app import create_app
from collector.config import Settings
from collector.storage.db import create_engine
from collector.storage.migrate import upgrade
from tests.databases import sqlite_url
from tests.factories import make_site
from tests.ingest.conftest import ORIGIN, beacon, post_beacon
from tests.telemetry.helpers import serving_in_process


async def access_lines(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    log_level: str,
    *,
    stored_beacons: bool = False,
) -> list[dict[str, Any]]:
    """The access lines of beacons stored whole, in part and not at all, then /health."""
    engine = create_engine(sqlite_url(tmp_path))
    await upgrade(engine)
    site = await make_site(engine, origins=[ORIGIN])
    await engine.dispose()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=sqlite_url(tmp_path),
        log_format="json",
        log_level=log_level,  # type: ignore[arg-type]
        access_log_stored_beacons=stored_beacons,
    )
    good = beacon("v5-attribution")
    async with serving_in_process(create_app(settings)) as client:
        assert (await post_beacon(client, good, key=site.key)).status_code == 204
        partly = [*good[:1], {"name": "LCP", "value": -5}]
        assert (await post_beacon(client, partly, key=site.key)).status_code == 200
        assert (await post_beacon(client, b"{not json", key=site.key)).status_code == 400
        assert (await client.get("/health")).status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    return [line for line in lines if line["logger"] == "perfbeacon.access"]


EVERY_REQUEST = [("/api/vitals", 204), ("/api/vitals", 200), ("/api/vitals", 400), ("/health", 200)]
WITHOUT_STORED_BEACONS = EVERY_REQUEST[1:]


@pytest.mark.parametrize(
    ("log_level", "stored_beacons", "expected"),
    [
        ("info", True, EVERY_REQUEST),  # the default: one line per request
        ("info", False, WITHOUT_STORED_BEACONS),
        ("debug", False, EVERY_REQUEST),
    ],
)
async def test_stored_beacons_leave_the_info_log_only_when_asked(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    log_level: str,
    stored_beacons: bool,
    expected: list[tuple[str, int]],
) -> None:
    lines = await access_lines(tmp_path, capsys, log_level, stored_beacons=stored_beacons)
    assert [(line["route"], line["status"]) for line in lines] == expected
