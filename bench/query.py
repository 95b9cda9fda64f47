"""Query benchmark: 10 M metric rows in PostgreSQL, the read API against naive SQL.

Loads a realistic mix (30 days, 200 routes with Zipf traffic, 3 devices, browsers,
connections, countries; LCP, FCP, TTFB, CLS on every page view and INP on most)
with binary COPY, rolls it up, serves perfbeacon as a process and times summary,
timeseries and breakdown calls through HTTP against the naive
``percentile_cont(...) WITHIN GROUP`` over raw rows, in the same run. Every
percentile the API answers is compared with the exact nearest-rank one
(``percentile_disc``) and with ``percentile_cont``.

    python bench/query.py                       # 10 M rows into database perfbeacon_bench
    python bench/query.py --rows 1000000        # smaller, quicker
    python bench/query.py --reuse               # skip loading, reuse the last load
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collector.query.roller import catch_up  # noqa: E402
from collector.sites.service import create_site  # noqa: E402
from collector.storage.db import create_engine  # noqa: E402
from collector.storage.migrate import upgrade  # noqa: E402
from collector.storage.partitions import ensure_partitions  # noqa: E402
from collector.storage.records import EVENT_COLUMNS  # noqa: E402
from tests.processes import (  # noqa: E402
    free_port,
    perfbeacon_command,
    perfbeacon_env,
    wait_until_healthy,
)

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
DAYS = 30
ROUTES = [
    "/",
    *(f"/{section}/:id" for section in ("product", "category", "blog", "help")),
    *(f"/page-{i}" for i in range(195)),
]
DEVICES = (("mobile", 55), ("desktop", 40), ("tablet", 5))
BROWSERS = {
    "mobile": (("chrome mobile", 60), ("mobile safari", 35), ("samsung internet", 5)),
    "desktop": (("chrome", 65), ("safari", 15), ("firefox", 10), ("edge", 10)),
    "tablet": (("mobile safari", 70), ("chrome", 30)),
}
CONNECTIONS = (("4g", 80), ("3g", 14), ("2g", 4), ("slow-2g", 2))
NAVIGATIONS = (
    ("navigate", 80),
    ("reload", 8),
    ("back-forward", 5),
    ("back-forward-cache", 5),
    ("prerender", 2),
)
COUNTRIES = ["us", "de", "gb", "fr", "in", "br", "jp", "nl", "es", "it", "ca", "pl", "se", "au"]
DEVICE_FACTOR = {"mobile": 1.5, "tablet": 1.2, "desktop": 1.0}
# (log-normal median, sigma) per metric for a typical page on desktop.
SHAPES = {"LCP": (1800, 0.6), "FCP": (1100, 0.5), "TTFB": (450, 0.7), "INP": (120, 0.8)}
LCP_TARGETS = ["img.hero", "h1.title", "div.banner > img", "p.lead", "video.promo"]
INP_TARGETS = ["button.add-to-cart", "a.nav-link", "input#search", "div.menu"]
METRICS_PER_VIEW = 4.6  # LCP, FCP, TTFB, CLS always; INP on 60 % of views


def _weighted(pairs: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    return [name for name, _ in pairs], [weight for _, weight in pairs]


def page_views(count: int, *, end: datetime, seed: int) -> Iterator[list[tuple[Any, ...]]]:
    """Raw event rows (COPY tuples, ``events`` column order), a chunk of page views at a time."""
    rng = random.Random(seed)
    route_weights = [1 / (i + 1) for i in range(len(ROUTES))]
    route_slowness = {route: rng.lognormvariate(0, 0.3) for route in ROUTES}
    devices, device_w = _weighted(DEVICES)
    connections, connection_w = _weighted(CONNECTIONS)
    navigations, navigation_w = _weighted(NAVIGATIONS)
    country_w = [1 / (i + 1) for i in range(len(COUNTRIES))]
    span = DAYS * 86400
    chunk = 20_000
    serial = 0
    for first in range(0, count, chunk):
        n = min(chunk, count - first)
        routes = rng.choices(ROUTES, route_weights, k=n)
        chosen_devices = rng.choices(devices, device_w, k=n)
        chosen_connections = rng.choices(connections, connection_w, k=n)
        chosen_navigations = rng.choices(navigations, navigation_w, k=n)
        countries = rng.choices(COUNTRIES, country_w, k=n)
        rows: list[tuple[Any, ...]] = []
        for i in range(n):
            serial += 1
            device = chosen_devices[i]
            route = routes[i]
            browser = rng.choices(*_weighted(BROWSERS[device]))[0]
            # More traffic by day than by night (UTC), as a single-region site sees.
            while True:
                offset = rng.random() * span
                if rng.random() < 0.55 + 0.45 * math.sin(math.pi * ((offset % 86400) / 86400)):
                    break
            ts = end - timedelta(seconds=offset)
            slowness = route_slowness[route] * DEVICE_FACTOR[device]
            common = (
                chosen_navigations[i],
                route.replace(":id", str(serial % 997)),
                route,
                device,
                browser,
                "android" if "mobile" in browser or "samsung" in browser else "macos",
                chosen_connections[i],
                rng.choice((2.0, 4.0, 8.0)),
                countries[i],
            )
            for metric in ("LCP", "FCP", "TTFB", "CLS", "INP"):
                if metric == "INP" and rng.random() >= 0.6:
                    continue
                if metric == "CLS":
                    value = 0.0 if rng.random() < 0.55 else rng.lognormvariate(math.log(0.03), 1.2)
                else:
                    median, sigma = SHAPES[metric]
                    value = rng.lognormvariate(math.log(median * slowness), sigma)
                attribution = None
                if metric == "LCP":
                    attribution = json.dumps({"target": rng.choice(LCP_TARGETS)})
                elif metric == "INP":
                    attribution = json.dumps({"interactionTarget": rng.choice(INP_TARGETS)})
                rows.append(
                    (
                        1,
                        ts,
                        metric,
                        value,
                        value,
                        None,
                        f"v5-{serial}-{metric}",
                        *common[:7],
                        common[7],
                        common[8],
                        attribution,
                    )
                )
        yield rows


def progress(done: int, total: int, started: float, label: str) -> None:
    """A one-line progress bar on stderr."""
    width = 40
    filled = int(width * done / total)
    rate = done / max(time.monotonic() - started, 1e-9)
    sys.stderr.write(
        f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} ({rate:,.0f}/s)"
    )
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def load(database: str, *, rows: int, end: datetime) -> dict[str, str]:
    """Create the database afresh, migrate, create a site, COPY ``rows`` events, roll up."""
    admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database_admin()}")
    await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    url = f"{SERVER}/{database}"
    engine = create_engine(url)
    await upgrade(engine)
    async with engine.begin() as conn:
        first_day = (end - timedelta(days=DAYS + 1)).date()
        await ensure_partitions(conn, first_day=first_day, days=DAYS + 3)
    async with engine.connect() as conn:
        site = await create_site(conn=conn, name="bench", origins=["https://shop.example"])
    raw = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
    views = int(rows / METRICS_PER_VIEW)
    started, loaded = time.monotonic(), 0
    for chunk in page_views(views, end=end, seed=7):
        await raw.copy_records_to_table("events", records=chunk, columns=list(EVENT_COLUMNS))
        loaded += len(chunk)
        progress(min(loaded, rows), rows, started, "COPY events ")
    progress(rows, rows, started, "COPY events ")
    copy_seconds = time.monotonic() - started
    await raw.execute("ANALYZE events")
    # The watermark starts at the oldest event; the roller catches up from there.
    await raw.execute("UPDATE rollup_watermark SET rolled_before = (SELECT min(ts) FROM events)")
    started = time.monotonic()
    await catch_up(engine, until=end + timedelta(seconds=1))
    roll_seconds = time.monotonic() - started
    await raw.execute("VACUUM ANALYZE rollups")
    sizes = await raw.fetchrow(
        "SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM rollups) AS "
        "rollups, pg_size_pretty(pg_total_relation_size('rollups')) AS size"
    )
    await raw.close()
    await engine.dispose()
    print(
        f"loaded {sizes['events']:,} events in {copy_seconds:.1f} s "
        f"({sizes['events'] / copy_seconds:,.0f} rows/s); rolled up in {roll_seconds:.1f} s "
        f"({sizes['events'] / roll_seconds:,.0f} rows/s) into {sizes['rollups']:,} rollup rows "
        f"({sizes['size']})"
    )
    return {"key": site.key, "token": site.read_token, "end": end.isoformat()}


def database_admin() -> str:
    """The maintenance database to create the benchmark database from."""
    return make_url(f"{SERVER}/postgres").database or "postgres"


@dataclass
class Case:
    """One query: the API path and the naive SQL answering the same question."""

    name: str
    path: str
    naive_sql: str
    naive_args: tuple[Any, ...]
    compare: Callable[[Any, list[asyncpg.Record]], list[tuple[float, float, float]]]


FRACTIONS = (0.5, 0.75, 0.9, 0.95, 0.99)
_PERCENTILES = "{" + ",".join(str(f) for f in FRACTIONS) + "}"


def _summary_pairs(answer: Any, rows: list[asyncpg.Record]) -> list[tuple[float, float, float]]:
    pairs = []
    for row in rows:
        stats = answer["metrics"][row["metric"]]
        if stats["count"] != row["n"]:
            raise AssertionError(f"count {stats['count']} != {row['n']} for {row['metric']}")
        for i, fraction in enumerate(FRACTIONS):
            key = f"p{round(fraction * 100)}"
            pairs.append((stats[key], row["disc"][i], row["cont"][i]))
    return pairs


def _series_pairs(answer: Any, rows: list[asyncpg.Record]) -> list[tuple[float, float, float]]:
    by_start = {datetime.fromisoformat(p["start"]): p for p in answer["points"]}
    pairs = []
    for row in rows:
        point = by_start[row["slot"]]
        if point["count"] != row["n"]:
            raise AssertionError(f"count {point['count']} != {row['n']} at {row['slot']}")
        pairs.append((point["value"], row["disc"], row["cont"]))
    return pairs


def _breakdown_pairs(answer: Any, rows: list[asyncpg.Record]) -> list[tuple[float, float, float]]:
    exact = {row["grp"]: row for row in rows}
    pairs = []
    for group in answer["rows"]:
        row = exact[group["value"]]
        if group["count"] != row["n"]:
            raise AssertionError(f"count {group['count']} != {row['n']} for {group['value']}")
        pairs.append((group["p75"], row["disc"], row["cont"]))
    return pairs


def _ranked_breakdown_pairs(
    answer: Any, rows: list[asyncpg.Record]
) -> list[tuple[float, float, float]]:
    # Counts are exact in both, so the top groups by count must be the same, in order.
    if [g["value"] for g in answer["rows"]] != [r["grp"] for r in rows[: len(answer["rows"])]]:
        raise AssertionError("the API ranked groups differently from the naive query")
    return _breakdown_pairs(answer, rows)


def cases(end: datetime) -> list[Case]:
    """The benchmarked questions, each over a window ending at ``end``."""
    week, month = end - timedelta(days=7), end - timedelta(days=30)
    iso = lambda moment: moment.isoformat().replace("+00:00", "Z")  # noqa: E731
    summary_sql = (
        "SELECT metric, count(*) AS n, "
        f"percentile_cont('{_PERCENTILES}'::float8[]) WITHIN GROUP (ORDER BY value) AS cont, "
        f"percentile_disc('{_PERCENTILES}'::float8[]) WITHIN GROUP (ORDER BY value) AS disc "
        "FROM events WHERE site_id = 1 AND ts >= $1 AND ts < $2 {extra} GROUP BY metric"
    )
    series_sql = (
        "SELECT date_bin($3::interval, ts, TIMESTAMPTZ '1970-01-01') AS slot, count(*) AS n, "
        "percentile_cont(0.75) WITHIN GROUP (ORDER BY value) AS cont, "
        "percentile_disc(0.75) WITHIN GROUP (ORDER BY value) AS disc "
        "FROM events WHERE site_id = 1 AND metric = 'LCP' AND ts >= $1 AND ts < $2 GROUP BY 1"
    )
    breakdown_sql = (
        "SELECT {column} AS grp, count(*) AS n, "
        "percentile_cont(0.75) WITHIN GROUP (ORDER BY value) AS cont, "
        "percentile_disc(0.75) WITHIN GROUP (ORDER BY value) AS disc "
        "FROM events WHERE site_id = 1 AND metric = 'LCP' AND ts >= $1 AND ts < $2 "
        "GROUP BY 1 ORDER BY {order}"
    )
    return [
        Case(
            "summary LCP, 7 days",
            f"summary?metric=LCP&from={iso(week)}&to={iso(end)}",
            summary_sql.replace("{extra}", "AND metric = 'LCP'"),
            (week, end),
            _summary_pairs,
        ),
        Case(
            "summary 5 metrics, 30 days",
            f"summary?from={iso(month)}&to={iso(end)}",
            summary_sql.replace("{extra}", ""),
            (month, end),
            _summary_pairs,
        ),
        Case(
            "summary LCP mobile, 30 days",
            f"summary?metric=LCP&device=mobile&from={iso(month)}&to={iso(end)}",
            summary_sql.replace("{extra}", "AND metric = 'LCP' AND device = 'mobile'"),
            (month, end),
            _summary_pairs,
        ),
        Case(
            "summary LCP /product/:id × mobile, 30 days",
            f"summary?metric=LCP&page=/product/:id&device=mobile&from={iso(month)}&to={iso(end)}",
            summary_sql.replace(
                "{extra}", "AND metric = 'LCP' AND route = '/product/:id' AND device = 'mobile'"
            ),
            (month, end),
            _summary_pairs,
        ),
        Case(
            "timeseries LCP p75 hourly, 7 days",
            f"timeseries?metric=LCP&interval=1h&percentile=75&from={iso(week)}&to={iso(end)}",
            series_sql,
            (week, end, timedelta(hours=1)),
            _series_pairs,
        ),
        Case(
            "timeseries LCP p75 daily, 30 days",
            f"timeseries?metric=LCP&interval=1d&percentile=75&from={iso(month)}&to={iso(end)}",
            series_sql,
            (month, end, timedelta(days=1)),
            _series_pairs,
        ),
        Case(
            "breakdown LCP by device, 30 days",
            f"breakdown?metric=LCP&by=device&from={iso(month)}&to={iso(end)}",
            breakdown_sql.format(column="device", order="n DESC"),
            (month, end),
            _ranked_breakdown_pairs,
        ),
        Case(
            "breakdown LCP top 10 pages by count, 7 days",
            f"breakdown?metric=LCP&by=page&limit=10&from={iso(week)}&to={iso(end)}",
            breakdown_sql.format(column="route", order="n DESC, grp") + " LIMIT 10",
            (week, end),
            _ranked_breakdown_pairs,
        ),
        Case(
            "breakdown LCP top 10 pages by count, 30 days",
            f"breakdown?metric=LCP&by=page&limit=10&from={iso(month)}&to={iso(end)}",
            breakdown_sql.format(column="route", order="n DESC, grp") + " LIMIT 10",
            (month, end),
            _ranked_breakdown_pairs,
        ),
        Case(
            "breakdown LCP 10 worst pages by p75, 7 days",
            f"breakdown?metric=LCP&by=page&order=p75&limit=10&from={iso(week)}&to={iso(end)}",
            breakdown_sql.format(column="route", order="disc DESC, n DESC"),
            (week, end),
            _breakdown_pairs,
        ),
    ]


async def _get(client: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> bytes:
    """The body of a 200 answer to GET ``path`` (parsed after the clock stops)."""
    client.request("GET", path, headers=headers)
    response = client.getresponse()
    body = response.read()
    if response.status != 200:
        raise AssertionError(f"GET {path}: {response.status} {body[:200]!r}")
    return body


async def median_seconds(run: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float, Any]:
    """The median wall time of ``repeats`` runs, and the last run's result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = await run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def relative_error(answer: float, exact: float) -> float:
    """|answer - exact| / |exact| (0 when both are 0)."""
    if exact == 0:
        return 0.0 if answer == 0 else math.inf
    return abs(answer - exact) / abs(exact)


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """``perfbeacon serve`` on a free port, its output in a file (a full pipe would stall it)."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [*perfbeacon_command(), "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_healthy(base_url, process, 60)
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=30)


async def measure(database: str, meta: dict[str, str], *, api_runs: int, naive_runs: int) -> str:
    """Time every case through HTTP and naively; return the markdown table."""
    end = datetime.fromisoformat(meta["end"])
    headers = {"Authorization": f"Bearer {meta['token']}"}
    raw = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
    env = perfbeacon_env(f"{SERVER}/{database}", PERFBEACON_LOG_LEVEL="warning")
    lines = [
        "| query | API median | naive median | speed-up | max error vs exact (disc) "
        "| max error vs percentile_cont |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    with serving(env) as base_url:
        # A keep-alive http.client connection: an httpx client cost ~1 ms of its own per
        # call here, charged to the API. The floor below is the same client on /health.
        client = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=60)
        floor, _ = await median_seconds(lambda: _get(client, "/health", {}), api_runs)
        print(f"client floor (/health through the same connection): {floor * 1000:.2f} ms")
        prefix = f"/api/v1/sites/{meta['key']}/"
        for case in cases(end):

            async def call(path: str = prefix + case.path) -> bytes:
                return await _get(client, path, headers)

            # A naive query outlasts the server's keep-alive: open a new connection.
            client.close()
            await call()  # warm the connection pool and caches, as a dashboard does
            api, body = await median_seconds(call, api_runs)
            naive, rows = await median_seconds(
                lambda case=case: raw.fetch(case.naive_sql, *case.naive_args), naive_runs
            )
            pairs = case.compare(json.loads(body), rows)
            vs_disc = max(relative_error(a, d) for a, d, _ in pairs)
            vs_cont = max(relative_error(a, c) for a, _, c in pairs)
            lines.append(
                f"| {case.name} | {api * 1000:.1f} ms | {naive * 1000:.0f} ms | "
                f"{naive / api:,.0f}× | {vs_disc:.3%} | {vs_cont:.3%} |"
            )
            print(lines[-1], flush=True)
        client.close()
    await raw.close()
    return "\n".join(lines)


async def main() -> None:
    """Load (unless reused), then measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--database", default="perfbeacon_bench")
    parser.add_argument("--reuse", action="store_true", help="skip loading; reuse the last load")
    parser.add_argument("--api-runs", type=int, default=21)
    parser.add_argument("--naive-runs", type=int, default=3)
    args = parser.parse_args()
    state = ROOT / "bench" / f".{args.database}.json"
    if args.reuse:
        meta = json.loads(state.read_text())
    else:
        # Windows longer than two days are whole UTC days: end the data at midnight.
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        meta = await load(args.database, rows=args.rows, end=end)
        state.write_text(json.dumps(meta))
    print(await measure(args.database, meta, api_runs=args.api_runs, naive_runs=args.naive_runs))


if __name__ == "__main__":
    asyncio.run(main())
