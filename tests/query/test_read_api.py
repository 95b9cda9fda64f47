"""The read API: tokens, answers, bad input and streamed exports, on both databases."""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.sites.schemas import CreatedSite
from tests.factories import event, make_site, store_events

# Whole UTC days, so the windows below need no snapping.
DAY = datetime(2026, 11, 16, tzinfo=UTC)
FROM, TO = "2026-11-16T00:00:00Z", "2026-11-18T00:00:00Z"


def reader(site: CreatedSite) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.read_token}"}


@pytest.fixture
async def shop(engine: AsyncEngine) -> CreatedSite:
    """A site with a day and a half of LCP, CLS and INP reports on two routes."""
    site = await make_site(engine, name="shop")
    records = []
    for i in range(60):
        route = "/product/:id" if i % 3 else "/"
        records.append(
            event(
                site_id=site.id,
                ts=DAY + timedelta(minutes=37 * i),
                metric="LCP",
                value=1000.0 + 100 * i,
                route=route,
                device="mobile" if i % 2 else "desktop",
                attribution={"target": "img.hero" if i % 3 else "h1"},
            )
        )
        records.append(event(site_id=site.id, ts=DAY + timedelta(minutes=37 * i), metric="CLS",
                             value=0.0 if i % 4 else 0.3, route=route))  # fmt: skip
    await store_events(engine, records)
    return site


async def get(
    client: httpx.AsyncClient, site: CreatedSite, path: str, **headers: str
) -> httpx.Response:
    return await client.get(f"/api/v1/sites/{site.key}/{path}", headers=headers or reader(site))


@pytest.mark.citus
async def test_summary_answers_counts_percentiles_and_shares(
    client: httpx.AsyncClient, shop: CreatedSite
) -> None:
    response = await get(client, shop, f"summary?from={FROM}&to={TO}")
    assert response.status_code == 200
    body = response.json()
    assert (body["site"], body["from"], body["to"]) == (shop.key, FROM, TO)
    lcp = body["metrics"]["LCP"]
    assert lcp["count"] == 60
    assert lcp["p50"] == pytest.approx(3900.0, rel=0.01)  # nearest rank 30 of 1000..6900
    assert lcp["p75"] == pytest.approx(5400.0, rel=0.01)
    assert lcp["good"] == pytest.approx(16 / 60)
    assert lcp["poor"] == pytest.approx(29 / 60)
    assert body["metrics"]["CLS"]["count"] == 60
    assert body["metrics"]["CLS"]["p50"] == 0.0
    assert body["metrics"]["INP"] == {
        "count": 0, "p50": None, "p75": None, "p90": None, "p95": None, "p99": None,
        "good": None, "needs_improvement": None, "poor": None,
    }  # fmt: skip


@pytest.mark.citus
async def test_filters_combine_and_exact_mode_agrees(
    client: httpx.AsyncClient, shop: CreatedSite
) -> None:
    query = f"summary?metric=lcp&page=/product/:id&device=mobile&from={FROM}&to={TO}"
    rolled = (await get(client, shop, query)).json()
    exact = (await get(client, shop, query + "&exact=1")).json()
    assert (rolled["source"], exact["source"]) == ("rollups", "raw")
    assert list(rolled["metrics"]) == ["LCP"]
    assert rolled["metrics"]["LCP"]["count"] == exact["metrics"]["LCP"]["count"] == 20
    for name in ("p50", "p75", "p90", "p95", "p99"):
        truth = exact["metrics"]["LCP"][name]
        assert rolled["metrics"]["LCP"][name] == pytest.approx(truth, rel=0.01)


async def test_an_empty_window_answers_count_zero_and_null_percentiles(
    client: httpx.AsyncClient, shop: CreatedSite
) -> None:
    body = (await get(client, shop, "summary?metric=LCP&from=2020-01-01&to=2020-01-02")).json()
    assert body["metrics"]["LCP"]["count"] == 0
    assert body["metrics"]["LCP"]["p75"] is None


@pytest.mark.citus
async def test_timeseries_has_a_point_per_interval(
    client: httpx.AsyncClient, shop: CreatedSite
) -> None:
    body = (
        await get(
            client, shop, f"timeseries?metric=LCP&interval=1d&percentile=90&from={FROM}&to={TO}"
        )
    ).json()
    assert [point["start"] for point in body["points"]] == [FROM, "2026-11-17T00:00:00Z"]
    assert [point["count"] for point in body["points"]] == [39, 21]
    assert body["points"][0]["value"] == pytest.approx(4500.0, rel=0.01)
    hourly = (await get(client, shop, f"timeseries?interval=1h&from={FROM}&to={TO}")).json()
    assert len(hourly["points"]) == 48
    assert sum(point["count"] for point in hourly["points"]) == 60
    assert all(p["value"] is None for p in hourly["points"] if p["count"] == 0)


async def test_breakdown_ranks_groups(client: httpx.AsyncClient, shop: CreatedSite) -> None:
    by_count = (await get(client, shop, f"breakdown?metric=LCP&by=page&from={FROM}&to={TO}")).json()
    assert [(r["value"], r["count"]) for r in by_count["rows"]] == [("/product/:id", 40), ("/", 20)]
    query = f"breakdown?by=page&order=p75&limit=1&from={FROM}&to={TO}"
    worst, exact = [(await get(client, shop, query + flag)).json() for flag in ("", "&exact=1")]
    assert worst["groups"] == exact["groups"] == 2
    # p75 of "/" is 5200 ms, of "/product/:id" 5400 ms.
    assert [row["value"] for row in worst["rows"]] == ["/product/:id"]
    assert worst["rows"][0]["p75"] == pytest.approx(exact["rows"][0]["p75"], rel=0.01)


@pytest.mark.citus
async def test_top_groups_by_count_break_ties_in_code_point_order(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # Equal counts everywhere: the top 3 are the first routes in code point order
    # ("/Z" before "/a", "/f" before "/é", unlike a locale's collation), and each comes
    # with its percentiles, read in the same statement as the ranking.
    site = await make_site(engine, name="ties")
    routes = ["/é", "/z", "/f", "/Z", "/a"]
    records = [
        event(site_id=site.id, ts=DAY + timedelta(hours=i), metric="LCP", value=800.0 + i, route=r)
        for r in routes
        for i in range(3)
    ]
    await store_events(engine, records)
    query = f"breakdown?metric=LCP&by=page&limit=3&from={FROM}&to={TO}"
    body = (await get(client, site, query)).json()
    assert body["groups"] == len(routes)
    assert [row["value"] for row in body["rows"]] == ["/Z", "/a", "/f"]
    assert all(row["count"] == 3 and row["p75"] is not None for row in body["rows"])


async def test_attribution_names_the_worst_elements(
    client: httpx.AsyncClient, shop: CreatedSite
) -> None:
    body = (await get(client, shop, f"attribution?metric=LCP&from={FROM}&to={TO}")).json()
    assert [(row["route"], row["target"], row["count"]) for row in body["rows"]] == [
        ("/product/:id", "img.hero", 40),
        ("/", "h1", 20),
    ]
    assert body["rows"][0]["p75"] >= body["rows"][1]["p75"]


@pytest.mark.citus
async def test_scores_rank_routes(client: httpx.AsyncClient, shop: CreatedSite) -> None:
    body = (await get(client, shop, f"score?from={FROM}&to={TO}")).json()
    assert 0 <= body["site_score"]["score"] <= 100
    assert set(body["site_score"]["components"]) == {"LCP", "CLS"}
    scores = [route["score"] for route in body["routes"]]
    assert scores == sorted(scores)
    assert {route["route"] for route in body["routes"]} == {"/", "/product/:id"}


async def test_export_streams_csv_and_ndjson(client: httpx.AsyncClient, shop: CreatedSite) -> None:
    response = await get(client, shop, f"export.csv?from={FROM}&to={TO}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 120
    assert rows[0]["ts"] <= rows[-1]["ts"]
    assert json.loads(next(r for r in rows if r["metric"] == "LCP")["attribution"])["target"]
    lines = (await get(client, shop, f"export.ndjson?from={FROM}&to={TO}")).text.splitlines()
    assert len(lines) == 120
    assert {json.loads(line)["metric"] for line in lines} == {"LCP", "CLS"}


@pytest.fixture
async def varied(engine: AsyncEngine) -> CreatedSite:
    """A site with one LCP report per combination of two values of each dimension."""
    site = await make_site(engine, name="varied")
    values = itertools.product(
        ("/", "/product/:id"), ("mobile", "desktop"), ("chrome", "firefox"),
        ("de", None), ("4g", "wifi"), ("navigate", "reload"),
    )  # fmt: skip
    records = [
        event(site_id=site.id, ts=DAY + timedelta(minutes=20 * i), route=route, device=device,
              browser=browser, country=country, connection=connection, navigation_type=navigation)
        for i, (route, device, browser, country, connection, navigation) in enumerate(values)
    ]  # fmt: skip
    await store_events(engine, records)
    return site


async def exported(
    client: httpx.AsyncClient, site: CreatedSite, suffix: str, filters: dict[str, str]
) -> list[dict[str, object]]:
    """The rows of an export of the test window with ``filters``, parsed."""
    query = urlencode({"from": FROM, "to": TO, **filters})
    response = await get(client, site, f"export.{suffix}?{query}")
    assert response.status_code == 200
    if suffix == "csv":
        return list(csv.DictReader(io.StringIO(response.text)))
    return [json.loads(line) for line in response.text.splitlines()]


@pytest.mark.parametrize("suffix", ["csv", "ndjson"])
@pytest.mark.parametrize(
    ("name", "value", "column"),
    [
        ("page", "/product/:id", "route"),
        ("route", "/", "route"),
        ("device", "mobile", "device"),
        ("browser", "firefox", "browser"),
        ("country", "de", "country"),
        ("connection", "wifi", "connection"),
        ("navigation_type", "reload", "navigation_type"),
    ],
)
async def test_each_filter_narrows_the_export(
    client: httpx.AsyncClient, varied: CreatedSite, suffix: str, name: str, value: str, column: str
) -> None:
    assert len(await exported(client, varied, suffix, {})) == 64
    rows = await exported(client, varied, suffix, {name: value})
    assert len(rows) == 32
    assert {row[column] for row in rows} == {value}


@pytest.mark.citus
@pytest.mark.parametrize("suffix", ["csv", "ndjson"])
async def test_export_filters_combine(
    client: httpx.AsyncClient, varied: CreatedSite, suffix: str
) -> None:
    filters = {"page": "/product/:id", "device": "mobile", "country": "de", "browser": "chrome"}
    rows = await exported(client, varied, suffix, filters)
    assert len(rows) == 4
    for row in rows:
        assert (row["route"], row["device"], row["country"], row["browser"]) == (
            "/product/:id", "mobile", "de", "chrome",
        )  # fmt: skip
    assert await exported(client, varied, suffix, {**filters, "route": "/product/:id"}) == rows


@pytest.mark.parametrize("suffix", ["csv", "ndjson"])
@pytest.mark.parametrize(
    "query",
    ["page=/&route=/product/:id", "country=deu", f"device={'x' * 17}", f"page={'/' * 513}"],
)
async def test_a_bad_export_filter_gets_the_same_4xx_as_summary(
    client: httpx.AsyncClient, shop: CreatedSite, suffix: str, query: str
) -> None:
    expected = await get(client, shop, f"summary?{query}")
    assert 400 <= expected.status_code < 500
    response = await get(client, shop, f"export.{suffix}?{query}")
    assert response.status_code == expected.status_code
    assert response.json()["error"] == expected.json()["error"]


@pytest.mark.parametrize("query", ["device=unknown", "navigation_type=other", "device=tablet"])
async def test_every_assigned_value_is_a_valid_filter(
    client: httpx.AsyncClient, shop: CreatedSite, query: str
) -> None:
    assert (await get(client, shop, f"summary?{query}")).status_code == 200


async def test_a_read_token_is_required(client: httpx.AsyncClient, shop: CreatedSite) -> None:
    response = await client.get(f"/api/v1/sites/{shop.key}/summary")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    wrong = await get(client, shop, "summary", Authorization="Bearer pbr_not-a-token")
    assert wrong.status_code == 401


async def test_another_sites_token_gets_404_never_data(
    client: httpx.AsyncClient, engine: AsyncEngine, shop: CreatedSite
) -> None:
    other = await make_site(engine, name="other")
    response = await get(client, shop, "summary", **reader(other))
    assert response.status_code == 404
    assert "metrics" not in response.text
    assert (await get(client, other, "summary")).status_code == 200


@pytest.mark.citus
async def test_the_admin_token_reads_any_site(
    client: httpx.AsyncClient, shop: CreatedSite, admin_headers: dict[str, str]
) -> None:
    response = await get(client, shop, f"summary?from={FROM}&to={TO}", **admin_headers)
    assert response.json()["metrics"]["LCP"]["count"] == 60
    missing = await client.get("/api/v1/sites/pk_nope/summary", headers=admin_headers)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("path", "field", "allowed"),
    [
        ("summary?metric=LCX", "metric", "INP"),
        ("timeseries?interval=7m", "interval", "15m"),
        ("timeseries?percentile=0", "percentile", "0 < percentile < 100"),
        ("timeseries?percentile=100", "percentile", "0 < percentile < 100"),
        ("breakdown?by=os", "by", "navigation_type"),
        ("breakdown?order=p42", "order", "p75"),
        ("breakdown?limit=0", "limit", "1.."),
        ("summary?from=yesterday", "from", "7d"),
        ("summary?to=2026-13-45", "to", "ISO 8601"),
        ("attribution?metric=TTFB", "metric", "LCP"),
        # Values perfbeacon assigns itself: a typo would answer an empty window.
        ("summary?device=toaster", "device", "tablet"),
        ("summary?device=Mobile", "device", "unknown"),
        ("breakdown?by=page&navigation_type=teleport", "navigation_type", "back-forward"),
    ],
)
async def test_bad_input_gets_400_naming_the_allowed_values(
    client: httpx.AsyncClient, shop: CreatedSite, path: str, field: str, allowed: str
) -> None:
    response = await get(client, shop, path)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"]["field"] == field
    assert allowed in json.dumps(error["details"]) + error["message"]


@pytest.mark.parametrize(
    "path",
    [
        "summary?from=900d",
        "summary?from=2026-11-10&to=2026-11-09",
        "timeseries?interval=5m&from=30d",
        "summary?exact=1&from=30d",
        "attribution?from=30d",
        "breakdown?by=browser&page=/&from=30d",
        "timeseries?percentile=abc",
    ],
)
async def test_impossible_windows_and_malformed_values_are_4xx(
    client: httpx.AsyncClient, shop: CreatedSite, path: str
) -> None:
    response = await get(client, shop, path)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["message"]
