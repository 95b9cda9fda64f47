"""POST /api/v1/budgets/check: verdicts, stored runs, baselines and regressions, bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.storage.tables import budget_builds, budget_lhrs, budget_runs
from tests.budgets.helpers import FAST_ASSERTIONS, build, lhr, runs, site_headers
from tests.factories import make_site


async def count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def post_check(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post("/api/v1/budgets/check", json=body, headers=headers)


@pytest.mark.citus
async def test_check_answers_one_verdict_with_actual_and_limit(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    response = await post_check(
        client,
        site_headers(site),
        build=build("a1"),
        lhrs=runs("v1-index"),
        **{"assert": FAST_ASSERTIONS},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["verdict"] == "warn"  # best-practices is 0.96 < 1, at warn level
    assert report["urls"] == ["http://127.0.0.1:8765/index.html"]
    assert report["runs"] == 3
    by_key = {(r["audit_id"], r["audit_property"], r["name"]): r for r in report["results"]}
    interactive = by_key[("interactive", None, "maxNumericValue")]
    assert interactive["passed"] is True
    assert interactive["expected"] == 5000
    assert interactive["actual"] == pytest.approx(min(interactive["values"]))
    assert interactive["baseline"] is None
    assert by_key[("categories", "best-practices", "minScore")]["passed"] is False
    assert report["build"]["lifecycle"] == "sealed"
    assert await count(engine, budget_runs) == 3
    assert await count(engine, budget_lhrs) == 3

    listed = await client.get("/api/v1/budgets/checks", headers=site_headers(site))
    assert [c["build"]["hash"] for c in listed.json()] == ["a1"]
    one = await client.get(
        f"/api/v1/budgets/checks/{report['build']['id']}", headers=site_headers(site)
    )
    assert one.json()["verdict"] == "warn"


@pytest.mark.citus
async def test_failing_error_assertion_fails_the_build(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    response = await post_check(
        client,
        site_headers(site),
        build=build("h1"),
        lhrs=runs("v1-heavy"),
        **{"assert": FAST_ASSERTIONS},
    )
    assert response.json()["verdict"] == "fail"


@pytest.mark.citus
async def test_regression_against_ancestor_is_flagged_beyond_noise(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    headers = site_headers(site)
    loose = {"assertions": {"interactive": ["warn", {"maxNumericValue": 60000}]}}
    base = await post_check(
        client, headers, build=build("base1"), lhrs=runs("v1-index"), **{"assert": loose}
    )
    assert base.json()["verdict"] == "pass"

    # Same page, same code: run-to-run noise only, nothing flagged.
    same = await post_check(
        client,
        headers,
        build=build("same1", "feature", ancestor_hash="base1"),
        lhrs=runs("v1-index"),
        **{"assert": loose},
    )
    assert same.json()["regressions"] == []
    assert same.json()["baseline"]["hash"] == "base1"

    slow = await post_check(
        client,
        headers,
        build=build("slow1", "feature", ancestor_hash="base1"),
        lhrs=runs("v2-index"),
        **{"assert": loose},
    )
    report = slow.json()
    assert report["verdict"] == "fail"
    flagged = {r["measure"]: r for r in report["regressions"]}
    assert "audit:interactive" in flagged
    assert "category:performance" in flagged
    tti = flagged["audit:interactive"]
    assert tti["change"] > 2000
    assert tti["p_value"] <= 0.05
    result = next(r for r in report["results"] if r["audit_id"] == "interactive")
    assert result["regression"] is True
    assert result["baseline"] == pytest.approx(tti["baseline"])
    assert result["change"] == pytest.approx(tti["change"])


@pytest.mark.citus
async def test_without_ancestor_the_latest_base_branch_build_is_the_baseline(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    headers = site_headers(site)
    options = {"assert": FAST_ASSERTIONS}
    await post_check(client, headers, build=build("m1"), lhrs=runs("v1-index"), **options)
    await post_check(client, headers, build=build("m2"), lhrs=runs("v1-index"), **options)
    report = (
        await post_check(
            client, headers, build=build("f1", "feature"), lhrs=runs("v1-index"), **options
        )
    ).json()
    assert report["baseline"]["hash"] == "m2"


@pytest.mark.citus
async def test_stored_config_is_used_when_none_is_sent(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    headers = site_headers(site)
    missing = await post_check(client, headers, build=build("x0"), lhrs=runs("v1-index"))
    assert missing.status_code == 400
    assert "no budget configuration" in missing.json()["error"]["message"]
    stored = await client.put(
        "/api/v1/budgets/config",
        json={"lighthouserc": {"ci": {"assert": FAST_ASSERTIONS}}},
        headers=headers,
    )
    assert stored.status_code == 200, stored.text
    assert (await client.get("/api/v1/budgets/config", headers=headers)).json()[
        "assert"
    ] == FAST_ASSERTIONS
    report = await post_check(client, headers, build=build("x1"), lhrs=runs("v1-heavy"))
    assert report.json()["verdict"] == "fail"


@pytest.mark.citus
async def test_bundle_budgets_on_webpack_stats(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    stats = {
        "assets": [
            {"name": "main.1a2b3c4d.js", "size": 300_000},
            {"name": "lazy.9f8e7d6c.js", "size": 50_000},
        ],
        "chunks": [
            {"names": ["main"], "files": ["main.1a2b3c4d.js"], "initial": True},
            {"names": ["lazy"], "files": ["lazy.9f8e7d6c.js"], "initial": False},
        ],
    }
    budgets = {
        "budgets": [
            {"type": "initial", "maximumWarning": "250kb", "maximumError": "1mb"},
            {"type": "bundle", "name": "lazy", "maximumError": "40kb"},
        ]
    }
    response = await post_check(
        client, site_headers(site), build=build("b1"), bundle_budgets=budgets, bundle_stats=stats
    )
    report = response.json()
    assert report["verdict"] == "fail", report
    failed = {(r["audit_property"], r["name"]) for r in report["results"] if not r["passed"]}
    assert failed == {("initial", "maximumWarning"), ("bundle lazy", "maximumError")}


@pytest.mark.citus
async def test_duplicate_build_is_refused_with_422(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    site = await make_site(engine)
    headers = site_headers(site)
    first = await post_check(
        client, headers, build=build("d1"), lhrs=runs("v1-index"), **{"assert": FAST_ASSERTIONS}
    )
    assert first.status_code == 200
    again = await post_check(
        client, headers, build=build("d1"), lhrs=runs("v1-index"), **{"assert": FAST_ASSERTIONS}
    )
    assert again.status_code == 422
    assert "already exists" in again.json()["error"]["message"]
    assert await count(engine, budget_builds) == 1


def _nul_lhr() -> dict[str, Any]:
    nul = lhr("v1-index-2")
    nul["audits"]["interactive"]["title"] = "a\x00b"
    return nul


def _broken_lhr() -> dict[str, Any]:
    broken = lhr("v1-index-2")
    del broken["finalUrl"]
    return broken


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"lhrs": [lhr("v1-index-1"), _broken_lhr()], "assert": FAST_ASSERTIONS},
            "lhrs[1]: malformed LHR: 'finalUrl'",
        ),
        (
            {"lhrs": [lhr("v1-index-1"), {"audits": 3}], "assert": FAST_ASSERTIONS},
            "lhrs[1]: malformed LHR",
        ),
        (
            {"lhrs": runs("v1-index"), "assert": {"assertions": {"no-such-audit": "error"}}},
            "unknown audit id(s): no-such-audit",
        ),
        ({"lhrs": runs("v1-index"), "assert": {"asserts": {}}}, "unknown option(s) 'asserts'"),
        (
            {"lhrs": runs("v1-index"), "assert": {"assertions": {"interactive": ["fatal"]}}},
            "unknown level 'fatal'",
        ),
        (
            {
                "lhrs": runs("v1-index"),
                "assert": {"assertions": {"interactive": ["error", {"maxNumericValue": "fast"}]}},
            },
            "must be a number",
        ),
        ({"lhrs": runs("v1-index"), "assert": {"preset": "lighthouse:fast"}}, "unknown preset"),
        (
            {"lhrs": runs("v1-index"), "lighthouserc": {"ci": {"asert": {}}}},
            "unknown option(s) asert",
        ),
        (
            {
                "lhrs": runs("v1-index"),
                "budgets": [{"timings": [{"metric": "speed", "budget": 1}]}],
            },
            "invalid metric 'speed'",
        ),
        (
            {
                "bundle_budgets": {"budgets": [{"type": "initial", "maximumError": "20 potatoes"}]},
                "bundle_stats": {"main.js": 10},
            },
            "budgets[0].maximumError: '20 potatoes' is not a size",
        ),
        (
            {
                "bundle_budgets": {"budgets": [{"type": "initial", "maximumError": "1kb"}]},
                "bundle_stats": {"main.js": "20 potatoes"},
            },
            "'20 potatoes' is not a size",
        ),
        (
            {
                "bundle_budgets": {"budgets": [{"type": "all", "maximumError": "1mb"}]},
                "bundle_stats": {"weird": 1},
            },
            "bundle stats: 'weird' is not a file name",
        ),
        (
            {
                "bundle_budgets": {"budgets": [{"type": "all", "maximumError": "1mb"}]},
                "bundle_stats": {"files": []},
            },
            "bundle stats list no files",
        ),
        (
            {
                "bundle_budgets": {"budgets": [{"type": "all", "maximumError": "1mb"}]},
                "bundle_stats": {"files": [{"name": "main.js", "size": -5}]},
            },
            "files[0].size: -5 is negative",
        ),
        ({"lhrs": [], "assert": FAST_ASSERTIONS}, "need Lighthouse results"),
        (
            {"lhrs": [_nul_lhr()], "assert": FAST_ASSERTIONS},
            "lhrs[0]: malformed LHR: it contains NUL",
        ),
        (
            {"lhrs": runs("v1-index"), "assert": FAST_ASSERTIONS, "build": build("a\x00b")},
            "hash contains a NUL character",
        ),
    ],
)
async def test_bad_input_is_a_clear_4xx_and_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, body: dict[str, Any], fragment: str
) -> None:
    site = await make_site(engine)
    response = await post_check(client, site_headers(site), **{"build": build("bad1"), **body})
    assert 400 <= response.status_code < 500, response.text
    assert fragment in response.json()["error"]["message"]
    assert await count(engine, budget_builds) == 0
    assert await count(engine, budget_runs) == 0


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer pbr_not-a-real-token"}, 401)],
)
async def test_site_token_is_required(
    client: httpx.AsyncClient, engine: AsyncEngine, headers: dict[str, str], status: int
) -> None:
    response = await post_check(
        client, headers, build=build("t1"), lhrs=runs("v1-index"), **{"assert": FAST_ASSERTIONS}
    )
    assert response.status_code == status
