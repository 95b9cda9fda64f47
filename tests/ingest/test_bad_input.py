"""Bad beacons: each bad metric rejected on its own, clear 4xx errors, good data kept."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.ingest.endpoint import MAX_BODY_BYTES
from collector.sites.schemas import CreatedSite
from tests.ingest.conftest import ORIGIN, beacon, post_beacon, stored

GOOD = {"name": "LCP", "value": 1800.0, "delta": 1800.0, "id": "v5-1-good"}

BAD_METRICS = [
    ({"name": "LCP", "value": "fast", "id": "v5-1-a"}, "Expected `float`"),
    ({"name": "LCP", "value": -5, "id": "v5-1-b"}, "outside"),
    ({"name": "LCP", "value": None, "id": "v5-1-c"}, "Expected `float`"),  # NaN in JSON.stringify
    ({"name": "LCP", "value": 1e308, "id": "v5-1-d"}, "outside"),
    ({"name": "CLS", "value": 250, "id": "v5-1-e"}, "outside"),
    ({"name": "TBT", "value": 10, "id": "v5-1-f"}, "Invalid enum value 'TBT'"),
    ({"value": 10, "id": "v5-1-g"}, "missing required field `name`"),
    ({"name": "INP", "value": 10, "delta": 1e300, "id": "v5-1-h"}, "delta"),
    ({"name": "INP", "value": 10, "id": "x" * 200}, "id must be"),
    ({"name": "INP", "value": 10, "id": "v5\x00nul"}, "id must be"),
    ({"name": "INP", "value": 10, "id": "v5-1-i", "page": "/" + "p" * 2000}, "page"),
    ({"name": "INP", "value": 10, "id": "v5-1-j", "page": "javascript:alert(1)"}, "page"),
    ({"name": "INP", "value": 10, "id": "v5-1-k", "page": "x" * 5000}, "length <= 4096"),
    ("LCP=1200", "Expected `object`"),
    ([1, 2], "Expected `object`"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_METRICS)
async def test_a_bad_metric_is_rejected_alone_and_the_good_one_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite, bad: object, reason: str
) -> None:
    response = await post_beacon(client, [GOOD, bad], key=site.key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert body["rejected_total"] == 1
    (rejection,) = body["rejected"]
    assert rejection["index"] == 1
    assert reason in rejection["error"]
    assert [r.metric_id for r in await stored(engine)] == ["v5-1-good"]


async def test_a_malformed_attribution_is_dropped_not_the_metric(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    metric = {**GOOD, "attribution": {"target": 42, "timeToFirstByte": "soon"}}
    response = await post_beacon(client, [metric], key=site.key)
    assert response.status_code == 204, response.text
    (record,) = await stored(engine)
    assert (record.value, record.attribution) == (1800.0, None)


async def test_strings_are_cut_and_nul_removed_in_attribution(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    metric = {**GOOD, "attribution": {"target": "div\x00" + "x" * 5000, "url": "https://a/b?c"}}
    response = await post_beacon(client, [metric], key=site.key)
    assert response.status_code == 204, response.text
    (record,) = await stored(engine)
    assert record.attribution is not None
    assert record.attribution["target"] == "div" + "x" * 196
    assert record.attribution["url"] == "https://a/b"


async def test_a_beacon_with_no_good_metric_is_a_400_listing_why(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    response = await post_beacon(client, [BAD_METRICS[0][0], BAD_METRICS[1][0]], key=site.key)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_beacon"
    assert [r["index"] for r in error["details"]["rejected"]] == [0, 1]
    assert await stored(engine) == []


async def test_metrics_past_the_per_beacon_limit_are_rejected(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    metrics = [{**GOOD, "id": f"v5-1-{i}"} for i in range(105)]
    response = await post_beacon(client, metrics, key=site.key)
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected_total"]) == (100, 5)
    assert len(await stored(engine)) == 100


@pytest.mark.parametrize(
    ("content", "code", "fragment"),
    [
        (b"", "bad_beacon", "empty"),
        (b"   \n", "bad_beacon", "empty"),
        (b"{not json", "bad_beacon", "not JSON"),
        (b'{"name": "LCP", "value": NaN}', "bad_beacon", "not JSON"),
        (b"\xff\xfe\x00", "bad_beacon", "not JSON"),
        (b'"just a string"', "bad_beacon", "Expected `object | array`"),
        (b"[]", "bad_beacon", "no metric"),
        (b'{"metrics": "all"}', "bad_beacon", "Expected `array | null`"),
        (b'{"name": "LCP", "value": "slow"}', "bad_beacon", "no metric"),
    ],
)
async def test_a_body_that_is_not_a_beacon_is_a_400(
    client: httpx.AsyncClient, site: CreatedSite, content: bytes, code: str, fragment: str
) -> None:
    response = await post_beacon(client, content, key=site.key)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert fragment in error["message"]


async def test_wrong_content_type_is_a_415(client: httpx.AsyncClient, site: CreatedSite) -> None:
    response = await post_beacon(
        client, [GOOD], key=site.key, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert error["message"].endswith(" not 'application/x-www-form-urlencoded'")


async def test_json_and_typeless_bodies_are_accepted(
    client: httpx.AsyncClient, engine: AsyncEngine, site: CreatedSite
) -> None:
    for index, content_type in enumerate(["application/json; charset=utf-8", ""]):
        metric = {**GOOD, "id": f"v5-1-{index}"}
        response = await post_beacon(client, [metric], key=site.key, content_type=content_type)
        assert response.status_code == 204, response.text
    assert len(await stored(engine)) == 2


async def test_a_body_over_64_kib_is_a_413(client: httpx.AsyncClient, site: CreatedSite) -> None:
    body = [{**GOOD, "id": f"v5-1-{i}", "page": "/" + "p" * 900} for i in range(80)]
    response = await post_beacon(client, body, key=site.key)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_a_streamed_body_is_cut_off_at_64_kib(
    client: httpx.AsyncClient, site: CreatedSite
) -> None:
    sent = 0

    async def chunks() -> object:
        nonlocal sent
        yield b"["
        for _ in range(1000):  # 1 MB if it were all read
            sent += 1
            yield b'{"name":"LCP","value":1,"id":"v5-1-1"},' + b" " * 1000

    response = await client.post(
        f"/api/vitals?site={site.key}", content=chunks(), headers={"Origin": ORIGIN}
    )
    assert response.status_code == 413
    assert sent < 100  # the rest was never read
    assert MAX_BODY_BYTES == 64 * 1024


@pytest.mark.parametrize(
    ("key", "origin", "status", "code"),
    [
        ("pk_nosuchkey", ORIGIN, 404, "unknown_site"),
        (None, None, 400, "site_required"),
        (None, "https://elsewhere.example", 403, "origin_not_allowed"),
        ("SITE", "https://evil.example", 403, "origin_not_allowed"),
    ],
)
async def test_the_site_must_be_known_and_allow_the_origin(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    site: CreatedSite,
    key: str | None,
    origin: str | None,
    status: int,
    code: str,
) -> None:
    key = site.key if key == "SITE" else key
    response = await post_beacon(client, beacon("v5-standard"), key=key, origin=origin)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert await stored(engine) == []


async def test_wrong_method_is_a_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/vitals")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, OPTIONS"
    assert response.json()["error"]["code"] == "method_not_allowed"
