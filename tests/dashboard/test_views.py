"""The views with stored beacons: figures, filters in the URL, routes, empty states, 404s."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.sites.schemas import CreatedSite
from tests.budgets.helpers import FAST_ASSERTIONS, build, runs
from tests.conftest import ADMIN_TOKEN
from tests.dashboard.conftest import log_in
from tests.factories import make_site, sample, store_events


async def _site_with_beacons(engine: AsyncEngine) -> CreatedSite:
    site = await make_site(engine)
    recent = datetime.now(UTC) - timedelta(hours=2)
    records = [
        # Mobile home page: LCP values 1000..4000 -> p75 (nearest rank, 4 values) = 3000.
        *(
            sample(site.id, "LCP", v, ts=recent, route="/", device="mobile")
            for v in (1000, 2000, 3000, 4000)
        ),
        # Desktop product page: fast.
        *(
            sample(site.id, "LCP", v, ts=recent, route="/product/:id", device="desktop")
            for v in (800, 900)
        ),
        sample(site.id, "INP", 120, ts=recent, route="/"),
        sample(site.id, "CLS", 0.02, ts=recent, route="/"),
        # Last week's samples are the comparison window only.
        sample(site.id, "LCP", 2000, ts=recent - timedelta(days=8), route="/"),
        # A month ago: outside both windows.
        sample(site.id, "LCP", 9999, ts=recent - timedelta(days=30), route="/"),
    ]
    await store_events(engine, records)
    return site


def _seconds(shown: str) -> float:
    """A shown value in its unit (s, ms, or none for CLS) as a number of milliseconds."""
    number, _, unit = shown.partition(" ")
    return float(number) * (1000 if unit == "s" else 1)


def _about(shown: str, expected: str) -> bool:
    """Rollup percentiles are within 1 % of the exact ones: compare as numbers."""
    return abs(_seconds(shown) - _seconds(expected)) <= 0.015 * _seconds(expected)


def _card_value(html: str, metric: str) -> str:
    found = re.search(rf'id="card-{metric}".*?<p class="value">([^<]+?) <', html, re.S)
    assert found is not None, f"no {metric} card"
    return found.group(1)


async def test_overview_shows_p75_ratings_and_the_change(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await _site_with_beacons(engine)
    await log_in(client, site.read_token)

    html = (await client.get(f"/dashboard/sites/{site.key}")).text

    # Six LCP samples this week: 800, 900, 1000, 2000, 3000, 4000 -> p75 = 3000.
    assert _about(_card_value(html, "LCP"), "3.00 s")
    assert _about(_card_value(html, "INP"), "120 ms")
    assert _about(_card_value(html, "CLS"), "0.02")
    change = re.search(r'<p class="change[^"]*">(.*?)</p>', html, re.S)
    assert change is not None
    slower = re.search(r"(\d+)% slower than the previous 7d \(was (\S+ s)\)", change.group(1))
    assert slower is not None, change.group(1)
    assert 47 <= int(slower.group(1)) <= 53
    assert _about(slower.group(2), "2.00 s")
    assert "Core Web Vitals assessment: Failed" in html
    score = re.search(r"Performance score <strong>(\d+)</strong>/100", html)
    assert score is not None
    assert 0 < int(score.group(1)) < 90
    assert "Needs improvement" in html
    assert '<svg viewBox="0 0 640 220" role="img"' in html
    desktop = html[html.index('<th scope="row">Desktop</th>') :]
    assert re.search(r'<td class="num">(89\d|90\d) ms', desktop[: desktop.index("</tr>")])


async def test_a_filter_in_the_url_changes_the_figures(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await _site_with_beacons(engine)
    await log_in(client, site.read_token)

    desktop = (await client.get(f"/dashboard/sites/{site.key}?device=desktop")).text
    route = (await client.get(f"/dashboard/sites/{site.key}?route=/")).text

    assert _about(_card_value(desktop, "LCP"), "900 ms")
    assert '<option value="desktop" selected>' in desktop
    assert _about(_card_value(route, "LCP"), "3.00 s")
    assert "Clear filters" in route


async def test_bad_filter_values_are_ignored_with_a_visible_notice(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await _site_with_beacons(engine)
    await log_in(client, site.read_token)

    response = await client.get(f"/dashboard/sites/{site.key}?window=forever&device=fridge&sort=x")

    assert response.status_code == 200
    assert 'class="notice"' in response.text
    assert "Ignored window “forever”" in response.text
    assert "Ignored device “fridge”" in response.text
    assert _about(_card_value(response.text, "LCP"), "3.00 s")


async def test_pages_rank_routes_by_traffic_or_by_p75(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await _site_with_beacons(engine)
    await log_in(client, site.read_token)

    by_traffic = (await client.get(f"/dashboard/sites/{site.key}/pages")).text
    by_lcp = (await client.get(f"/dashboard/sites/{site.key}/pages?sort=LCP")).text
    bad_sort = await client.get(f"/dashboard/sites/{site.key}/pages?sort=nonsense")

    assert by_traffic.index(">/</a>") < by_traffic.index(">/product/:id</a>")
    assert by_lcp.index(">/</a>") < by_lcp.index(">/product/:id</a>")
    assert f'href="/dashboard/sites/{site.key}/routes/product/:id"' in by_traffic
    assert bad_sort.status_code == 200
    assert "Ignored sort “nonsense”" in bad_sort.text


async def test_route_view_shows_its_own_figures_histogram_and_attribution(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    lcp_target = {
        "target": "#gallery > img.primary",
        "url": "https://shop.example/a.jpg",
        "resourceLoadDuration": 900.0,
    }
    inp_target = {
        "interactionTarget": "button#add-to-cart",
        "interactionType": "pointer",
        "inputDelay": 40.0,
        "processingDuration": 200.0,
        "presentationDelay": 60.0,
    }
    await store_events(
        engine,
        [
            *(
                sample(site.id, "LCP", 2600 + i, route="/product/:id", attribution=lcp_target)
                for i in range(5)
            ),
            sample(site.id, "INP", 300, route="/product/:id", attribution=inp_target),
            sample(site.id, "LCP", 500, route="/"),
        ],
    )
    await log_in(client, site.read_token)

    response = await client.get(f"/dashboard/sites/{site.key}/routes/product/:id?metric=LCP")

    html = response.text
    assert response.status_code == 200
    assert _about(_card_value(html, "LCP"), "2.60 s")
    assert "#gallery &gt; img.primary" in html
    assert "https://shop.example/a.jpg" in html
    assert "button#add-to-cart" in html
    assert "processing 200 ms" in html
    assert 'class="bar needs-improvement"' in html
    assert "How LCP values of /product/:id spread" in html


async def test_unknown_route_is_a_styled_404(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await _site_with_beacons(engine)
    await log_in(client, site.read_token)

    response = await client.get(f"/dashboard/sites/{site.key}/routes/never/seen")

    assert response.status_code == 404
    assert "No beacons from route “/never/seen”" in response.text
    assert "<h1>Not found</h1>" in response.text


async def test_a_site_without_beacons_shows_the_snippet_to_add(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await log_in(client, site.read_token)

    for view in ("", "/pages"):
        html = (await client.get(f"/dashboard/sites/{site.key}{view}")).text
        assert f"No beacons from {site.name} yet" in html
        assert f"http://perfbeacon.test/api/vitals?site={site.key}" in html
        assert "onLCP(send)" in html
        assert "navigator.sendBeacon" in html


async def test_budgets_view_says_what_will_appear(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await log_in(client, site.read_token)

    html = (await client.get(f"/dashboard/sites/{site.key}/budgets")).text

    assert "No CI budget checks yet" in html
    assert "perfbeacon budget check" in html
    assert "No Lighthouse CI project is linked" in html
    assert "No field regression flagged in the last 30 days" in html


async def test_budgets_view_shows_checks_their_failures_and_regressions(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    headers = {"Authorization": f"Bearer {site.read_token}"}
    loose = {"assertions": {"interactive": ["warn", {"maxNumericValue": 60000}]}}
    for hash, branch, ancestor, lhrs in (
        ("base1", "main", None, runs("v1-index")),
        ("slow1", "feature", "base1", runs("v2-index")),
    ):
        checked = await client.post(
            "/api/v1/budgets/check",
            headers=headers,
            json={
                "build": build(
                    hash, branch, ancestor_hash=ancestor, commit_message=f"<b>{hash}</b>"
                ),
                "lhrs": lhrs,
                "assert": loose if hash == "base1" else FAST_ASSERTIONS,
            },
        )
        assert checked.status_code == 200, checked.text
    await log_in(client, site.read_token)

    html = (await client.get(f"/dashboard/sites/{site.key}/budgets")).text

    assert html.index("slow1") < html.index("base1</code> on")
    assert "■</span> Fail" in html
    assert "●</span> Pass" in html
    assert "<strong>audit:interactive</strong> regressed" in html
    assert "&lt;b&gt;slow1&lt;/b&gt;" in html
    assert "against <code>base1</code>" in html
    assert re.search(r"\d+ assertions? not met", html)


async def test_live_view_lists_the_latest_beacons(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    await store_events(engine, [sample(site.id, "TTFB", 432, page_path="/hello-live")])
    await log_in(client, site.read_token)

    html = (await client.get(f"/dashboard/sites/{site.key}/live")).text

    assert "/hello-live" in html
    assert "432 ms" in html
    assert f'data-site="{site.key}"' in html
    assert re.search(r'<script src="/dashboard/static/live\.[0-9a-f]+\.js" defer>', html)


async def test_overview_calls_out_a_route_that_got_worse(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    now = datetime.now(UTC) - timedelta(hours=3)
    # The 7-day window is made of whole days, as the read API's: 9 days back is before it.
    before = now - timedelta(days=9)
    await store_events(
        engine,
        [
            *(sample(site.id, "LCP", 2000, ts=before, route="/slow") for _ in range(40)),
            *(sample(site.id, "LCP", 3000, ts=now, route="/slow") for _ in range(40)),
            *(sample(site.id, "LCP", 1000, ts=before, route="/steady") for _ in range(40)),
            *(sample(site.id, "LCP", 1000, ts=now, route="/steady") for _ in range(40)),
        ],
    )
    await log_in(client, site.read_token)

    html = (await client.get(f"/dashboard/sites/{site.key}")).text

    assert "What got worse" in html
    assert re.search(r"(4[7-9]|5[0-3])% worse", html)
    assert ">/slow</a>:" in html
    assert re.search(r"(1\.99|2\.00|2\.01) s → (2\.99|3\.00|3\.01) s", html)
    assert ">/steady</a>:" not in html


async def test_the_site_list_glances_at_each_site(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    busy = await _site_with_beacons(engine)
    quiet = await make_site(engine, name="quiet")
    await log_in(client, ADMIN_TOKEN)

    html = (await client.get("/dashboard/")).text

    busy_card = html[html.index(busy.key) : html.index(quiet.key)]
    assert re.search(r"LCP (2\.9\d|3\.0\d) s", busy_card)
    assert "score" in busy_card
    assert "No beacons in the last 7 days." in html[html.index(quiet.key) :]
