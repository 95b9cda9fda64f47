"""The dashboard shows what the read API answers: the same p75s, counts and distributions."""

from __future__ import annotations

import html as html_text
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.demo.generator import page_views
from collector.sites.schemas import CreatedSite
from dashboard.vitals import CORE_VITALS, VITALS
from tests.dashboard.conftest import log_in
from tests.factories import make_site, roll_up_to, store_events

# (dashboard query parameters, the same filters as the read API names them)
FILTERS = [
    ({}, {}),
    ({"device": "mobile"}, {"device": "mobile"}),
    ({"window": "28d"}, {}),
    ({"window": "24h", "device": "desktop"}, {"device": "desktop"}),
    ({"route": "/product/:id"}, {"route": "/product/:id"}),
    (
        {"browser": "safari", "nav": "navigate"},
        {"browser": "safari", "navigation_type": "navigate"},
    ),
]


async def _demo_site(engine: AsyncEngine) -> CreatedSite:
    """Two weeks of demo traffic; on PostgreSQL, the last two days not rolled up yet."""
    site = await make_site(engine)
    now = datetime.now(UTC)
    records = [
        msgspec.structs.replace(record, site_id=site.id)
        for hour in page_views(start=now - timedelta(days=15), end=now, per_hour=4)
        for record in hour
    ]
    await store_events(engine, records)
    await roll_up_to(engine, now - timedelta(days=2))
    return site


def _cards(page: str) -> dict[str, tuple[str, int]]:
    """The p75 (as shown) and sample count of each metric card."""
    found = {}
    for name in VITALS:
        card = re.search(
            rf'id="card-{name}".*?<p class="value">([^<]+?) <.*?p75 of ([\d,]+) samples', page, re.S
        )
        assert card is not None, f"no {name} card"
        found[name] = (card.group(1), int(card.group(2).replace(",", "")))
    return found


def _card(page: str, name: str) -> str:
    start = page.index(f'id="card-{name}"')
    return page[start : page.index("</article>", start)]


async def _api(client: httpx.AsyncClient, site: CreatedSite, path: str, **params: str) -> dict:
    answer = await client.get(
        f"/api/v1/sites/{site.key}/{path}?{urlencode(params)}",
        headers={"Authorization": f"Bearer {site.read_token}"},
    )
    assert answer.status_code == 200, answer.text
    body: dict = answer.json()
    return body


@pytest.mark.parametrize(("shown", "asked"), FILTERS)
async def test_overview_cards_are_the_read_api_summary(
    client: httpx.AsyncClient, engine: AsyncEngine, shown: dict[str, str], asked: dict[str, str]
) -> None:
    site = await _demo_site(engine)
    await log_in(client, site.read_token)

    page = await client.get(f"/dashboard/sites/{site.key}?{urlencode(shown)}")
    window = shown.get("window", "7d")
    summary = await _api(client, site, "summary", **{"from": window}, **asked)
    compared = await _api(client, site, "comparison", **{"from": window}, **asked)

    assert page.status_code == 200
    assert 'class="notice"' not in page.text
    cards = _cards(page.text)
    assert sum(count for _, count in cards.values()) > 0
    for name, vital in VITALS.items():
        stats = summary["metrics"][name]
        assert cards[name] == (vital.format(stats["p75"]), stats["count"]), name
        assert compared["metrics"][name]["now"] == stats
        before = compared["metrics"][name]["before"]["p75"]
        if before is not None and stats["p75"] is not None:
            assert f"(was {vital.format(before)})" in _card(page.text, name) or (
                f"({vital.format(before)})" in _card(page.text, name)
            ), name


async def test_pages_table_is_the_read_api_breakdown(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await _demo_site(engine)
    await log_in(client, site.read_token)

    page = (await client.get(f"/dashboard/sites/{site.key}/pages?device=mobile")).text
    by_metric = {
        name: {
            row["value"]: row
            for row in (
                await _api(
                    client,
                    site,
                    "breakdown",
                    **{"from": "7d"},
                    metric=name,
                    by="page",
                    device="mobile",
                    limit="200",
                )
            )["rows"]
        }
        for name in CORE_VITALS
    }

    rows = re.findall(
        r'<tr><td class="route"><a [^>]*>([^<]+)</a></td>\s*<td class="num">([\d,]+)</td>'
        r'\s*<td class="num">([^<]+?)(?: <|</td>).*?<td class="num">([^<]+?)(?: <|</td>)'
        r'.*?<td class="num">([^<]+?)(?: <|</td>)',
        page,
        re.S,
    )
    assert len(rows) == len(by_metric["LCP"]) >= 5
    for route, samples, *p75s in rows:
        route = html_text.unescape(route)
        counts = [
            by_metric[name][route]["count"] for name in CORE_VITALS if route in by_metric[name]
        ]
        assert int(samples.replace(",", "")) == max(counts)
        for name, shown in zip(CORE_VITALS, p75s, strict=True):
            assert shown == VITALS[name].format(by_metric[name][route]["p75"]), (route, name)


async def test_route_view_cards_and_histogram_are_the_read_api_answers(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await _demo_site(engine)
    await log_in(client, site.read_token)
    route = "/product/:id"

    page = (await client.get(f"/dashboard/sites/{site.key}/routes{route}?metric=INP")).text
    summary = await _api(client, site, "summary", **{"from": "7d"}, route=route)
    spread = await _api(client, site, "distribution", **{"from": "7d"}, metric="INP", route=route)

    for name, (shown, count) in _cards(page).items():
        stats = summary["metrics"][name]
        assert (shown, count) == (VITALS[name].format(stats["p75"]), stats["count"]), name
    histogram = page[page.index('id="histogram"') :]
    counts = re.findall(r'<tr><td>[^<]+</td><td class="num">([\d,]+) \(', histogram)
    assert [int(c.replace(",", "")) for c in counts] == [b["count"] for b in spread["bins"]]
    assert spread["count"] == summary["metrics"]["INP"]["count"]


async def test_route_view_attribution_is_the_read_api_attribution(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await _demo_site(engine)
    await log_in(client, site.read_token)
    route = "/product/:id"

    page = (await client.get(f"/dashboard/sites/{site.key}/routes{route}")).text
    answer = await _api(
        client, site, "attribution", **{"from": "7d"}, metric="INP", route=route, order="impact"
    )

    section = page[page.index('id="att-inp"') : page.index('id="att-cls"')]
    shown = [html_text.unescape(t) for t in re.findall(r"<code>([^<]+)</code>", section)]
    assert shown == [row["target"] for row in answer["rows"][:6]]
    first = answer["rows"][0]
    assert set(first["parts"]) == {"inputDelay", "processingDuration", "presentationDelay"}
    assert f"input delay {VITALS['INP'].format(first['parts']['inputDelay'])}" in section


async def test_filters_only_raw_rows_answer_show_the_last_week_with_a_notice(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await _demo_site(engine)
    await log_in(client, site.read_token)
    chosen = {"route": "/product/:id", "browser": "safari"}

    page = await client.get(f"/dashboard/sites/{site.key}?{urlencode({'window': '28d', **chosen})}")
    summary = await _api(client, site, "summary", **{"from": "7d"}, **chosen)
    too_long = await client.get(
        f"/api/v1/sites/{site.key}/summary?{urlencode({'from': '28d', **chosen})}",
        headers={"Authorization": f"Bearer {site.read_token}"},
    )

    assert page.status_code == 200
    assert too_long.status_code == 400
    assert "read from raw beacons, for up to 7 days" in page.text
    assert '<option value="7d" selected>' in page.text
    assert summary["source"] == "raw"
    for name, (shown, count) in _cards(page.text).items():
        stats = summary["metrics"][name]
        assert (shown, count) == (VITALS[name].format(stats["p75"]), stats["count"]), name
