"""End to end in a real browser: headless Chromium, the npm web-vitals library, sendBeacon.

A page served on localhost loads web-vitals (v4 standard, v5 and v6 attribution
builds, from tests/browser/node_modules, which ``.ci/run`` installs with ``npm ci``),
queues every metric and flushes the queue with ``navigator.sendBeacon`` when the
page is hidden, as web-vitals' README shows and perfbeacon's README snippet does.
perfbeacon runs as a process on PostgreSQL; the test then finds the page's rows in
the database.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from collector.storage.db import create_engine
from collector.storage.records import EventRecord
from collector.storage.tables import events
from tests.databases import postgres_database_for_process
from tests.processes import free_port, perfbeacon_env, run_perfbeacon, serving
from tests.waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
NODE_FOLDER = Path(__file__).resolve().parent.parent / "browser"
# Without these Chromium tries to reach Google's services and stalls offline.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BUILDS = {
    "v4-standard": "web-vitals-4/dist/web-vitals.iife.js",
    "v5-attribution": "web-vitals-5/dist/web-vitals.attribution.iife.js",
    "v6-attribution": "web-vitals-6/dist/web-vitals.attribution.iife.js",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Product 42</title>
  <script src="/web-vitals.js"></script>
  <script>
    const queue = new Set();
    const addToQueue = (metric) => queue.add(metric);
    function flushQueue() {
      if (queue.size > 0) {
        const body = {page: location.href, metrics: [...queue]};
        navigator.sendBeacon(ENDPOINT, JSON.stringify(body));
        queue.clear();
      }
    }
    webVitals.onTTFB(addToQueue);
    webVitals.onFCP(addToQueue);
    webVitals.onLCP(addToQueue);
    webVitals.onCLS(addToQueue);
    webVitals.onINP(addToQueue);
    addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') flushQueue();
    });
  </script>
</head>
<body>
  <main>
    <h1>Product 42</h1>
    <p id="copy">A paragraph of text large enough to be the largest contentful paint.</p>
  </main>
  <script>
    // A late banner pushes the content down: a layout shift for CLS.
    setTimeout(() => {
      const banner = document.createElement('div');
      banner.style.height = '120px';
      banner.textContent = 'Free shipping today';
      document.body.prepend(banner);
    }, 300);
  </script>
</body>
</html>
"""


def _require_tools() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    if not (NODE_FOLDER / "node_modules").exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is missing: install Node.js to fetch the web-vitals builds")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_FOLDER, check=True, timeout=300
        )


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A static server on localhost for the test pages; yields its origin and folder."""
    _require_tools()
    root = tmp_path_factory.mktemp("pages")
    handler = partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def collector(
    page_server: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    """perfbeacon serving on PostgreSQL with a site for the page origin: (url, key, db url)."""
    origin, _ = page_server
    workdir = tmp_path_factory.mktemp("collector")
    with postgres_database_for_process() as database_url:
        # Headless Chromium is a bot to the collector's default filter.
        env = perfbeacon_env(database_url, PERFBEACON_DROP_BOTS="false")
        created = run_perfbeacon("site", "create", "e2e", "--origin", origin, env=env, cwd=workdir)
        assert created.returncode == 0, created.stderr
        key = json.loads(created.stdout)["key"]
        with serving(env=env, cwd=workdir) as (base_url, _):
            yield base_url, key, database_url


@pytest.mark.parametrize("build", list(BUILDS))
def test_a_hidden_page_sends_its_vitals_to_perfbeacon(
    page_server: tuple[str, Path], collector: tuple[str, str, str], build: str
) -> None:
    from playwright.sync_api import sync_playwright

    origin, root = page_server
    base_url, key, database_url = collector
    shutil.copy(NODE_FOLDER / "node_modules" / BUILDS[build], root / "web-vitals.js")
    endpoint = f"{base_url}/api/vitals?site={key}"
    (root / build).mkdir(exist_ok=True)
    (root / build / "index.html").write_text(PAGE.replace("ENDPOINT", json.dumps(endpoint)))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{origin}/{build}/index.html?ref=e2e")
            page.wait_for_timeout(600)  # after the banner's layout shift
            page.goto("about:blank")  # hides the page: web-vitals reports, the queue flushes
        finally:
            browser.close()

    expected = {"LCP", "FCP", "TTFB", "CLS"}
    records = _wait_for_rows(database_url, f"/{build}/index.html", expected)
    by_name = {record.metric: record for record in records}
    version = build[:2]
    for name in ("LCP", "FCP", "TTFB", "CLS"):
        record = by_name[name]
        assert record.metric_id.startswith(f"{version}-"), record.metric_id
        assert record.route == f"/{build}/index.html"
        assert record.navigation_type == "navigate"
        assert record.browser == "headlesschrome"
        assert record.value >= 0
    assert by_name["CLS"].value > 0
    assert by_name["LCP"].value >= by_name["FCP"].value > 0
    if build.endswith("attribution"):
        assert by_name["LCP"].attribution is not None
        assert by_name["LCP"].attribution["target"].endswith("#copy")
        assert "timeToFirstByte" in by_name["FCP"].attribution


def _wait_for_rows(database_url: str, path: str, names: set[str]) -> list[EventRecord]:
    return wait_until(
        lambda: asyncio.run(_rows_for(database_url, path)),
        done=lambda records: names <= {record.metric for record in records},
        within=15,
        interval=0.2,
    )


async def _rows_for(database_url: str, path: str) -> list[EventRecord]:
    url = make_url(database_url).set(drivername="postgresql+asyncpg")
    engine = create_engine(url.render_as_string(hide_password=False))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(events).where(events.c.page_path == path))
            return [EventRecord(**row._asdict()) for row in rows]
    finally:
        await engine.dispose()
