"""``perfbeacon budget check --server`` with a field budget file, against a served perfbeacon
that received real beacons."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.budgets.test_budget_cli import run, write
from tests.conftest import ADMIN_TOKEN
from tests.processes import perfbeacon_env, serving

ORIGIN = "https://shop.example"


def send_lcp(base_url: str, site_key: str, values: list[float]) -> None:
    metrics = [
        {"name": "LCP", "value": v, "delta": v, "id": f"v5-{i}-cli", "rating": "good"}
        for i, v in enumerate(values)
    ]
    response = httpx.post(
        f"{base_url}/api/vitals",
        content=json.dumps({"site": site_key, "page": "/checkout", "metrics": metrics}),
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN},
    )
    assert response.status_code == 204, response.text


def test_field_budgets_against_a_server_exit_by_the_verdict(tmp_path: Path) -> None:
    env = perfbeacon_env(
        f"sqlite+aiosqlite:///{tmp_path / 'pb.db'}",
        PERFBEACON_ADMIN_TOKEN=ADMIN_TOKEN,
        LHCI_BUILD_CONTEXT__CURRENT_BRANCH="main",
    )
    with serving(env=env, cwd=tmp_path) as (base_url, _):
        site = httpx.post(
            f"{base_url}/api/v1/sites",
            json={"name": "shop", "origins": [ORIGIN]},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).json()
        send_lcp(base_url, site["key"], [1800.0 + i for i in range(40)])
        summary = httpx.get(
            f"{base_url}/api/v1/sites/{site['key']}/summary?metric=LCP&from=7d&page=/checkout",
            headers={"Authorization": f"Bearer {site['read_token']}"},
        ).json()
        p75 = summary["metrics"]["LCP"]["p75"]
        server = ["--server", base_url, "--token", site["read_token"], "--format", "json"]

        def check(hash: str, budgets: list[dict[str, object]]) -> tuple[int, str, str]:
            write(tmp_path, "field-budgets.json", {"fieldBudgets": budgets})
            done = run(
                tmp_path,
                "--config",
                "field-budgets.json",
                *server,
                env={**env, "LHCI_BUILD_CONTEXT__CURRENT_HASH": hash},
            )
            return done.returncode, done.stdout, done.stderr

        code, out, err = check("a1", [{"metric": "LCP", "max": 2500, "route": "/checkout"}])
        assert code == 0, err
        (result,) = json.loads(out)["results"]
        assert result["actual"] == p75
        assert json.loads(out)["verdict"] == "pass"

        code, out, err = check("a2", [{"metric": "LCP", "max": 1000, "route": "/checkout"}])
        assert code == 1, err
        assert json.loads(out)["verdict"] == "fail"

        code, out, err = check("a3", [{"metric": "LCP", "max": 1000, "route": "/nothing-here"}])
        assert code == 0, err
        assert json.loads(out)["verdict"] == "warn"
        assert json.loads(out)["results"][0]["message"].startswith("no data")

        code, out, err = check("a4", [{"metric": "LCP", "max": 1000, "window": "90d"}])
        assert code == 2
        assert "fieldBudgets[0].window: unknown value '90d'" in err
