"""A real browser on the demo: log in, read the overview, filter, open a route, watch a beacon.

Debian's chromium is driven by Playwright (never a downloaded browser). `.ci/run`
installs chromium, so in CI this always runs; on a machine without it, it is
skipped with a message.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chromium import CHROMIUM, CHROMIUM_ARGS, chromium_missing
from tests.processes import free_port, perfbeacon_command, perfbeacon_env, wait_until_healthy

pytestmark = pytest.mark.skipif(
    chromium_missing(), reason="chromium is not installed: apt-get install chromium"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """``perfbeacon serve --demo`` as users run it; yields base URL, site key, read token."""
    workdir = tmp_path_factory.mktemp("demo")
    port = free_port()
    process = subprocess.Popen(
        [*perfbeacon_command(), "serve", "--demo", "--port", str(port)],
        env=perfbeacon_env(f"sqlite+aiosqlite:///{workdir / 'demo.db'}"),
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        printed = _read_until_token(process)
        # Keep reading: a pipe nobody drains fills with access lines and stalls the server.
        threading.Thread(target=process.stdout.read, daemon=True).start()  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        wait_until_healthy(base, process, timeout=60)
        key = re.search(r"site key:\s+(\S+)", printed)
        token = re.search(r"read token:\s+(\S+)", printed)
        assert key is not None, printed
        assert token is not None, printed
        yield base, key.group(1), token.group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _read_until_token(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "read token:" in line:
            break
    return "".join(lines)


def test_log_in_filter_open_a_route_and_watch_a_beacon_arrive(
    demo: tuple[str, str, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, key, token = demo
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))

        # A wrong token: the login page again, with a message.
        page.goto(f"{base}/dashboard/")
        page.fill("#token", "pbr_wrong")
        page.click("button[type=submit]")
        expect(page.get_by_role("alert")).to_contain_text("neither a site read token")
        # The browser logs the 401 of that answer as an error: expected, so forget it.
        assert all("401" in problem for problem in problems), problems
        problems.clear()

        # The demo's read token: the overview with two weeks of data.
        page.fill("#token", token)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{base}/dashboard/sites/{key}")
        expect(page.locator("h1")).to_contain_text("demo")
        expect(page.locator(".verdict")).to_contain_text("Core Web Vitals assessment")
        all_devices = page.locator("#card-LCP + .value").inner_text().splitlines()[0]
        assert re.fullmatch(r"\d\.\d\d s", all_devices), all_devices
        expect(page.locator("#trend-LCP svg")).to_be_visible()

        # A filter: the page reloads with it in the URL and other figures.
        page.select_option("#f-device", "desktop")
        expect(page).to_have_url(re.compile(r"device=desktop"))
        expect(page.locator("#f-device")).to_have_value("desktop")
        assert page.locator("#card-LCP + .value").inner_text().splitlines()[0] != all_devices

        # A route from the pages view, with its histogram and attribution.
        page.click("nav.tabs >> text=Pages")
        page.click("a:text-is('/product/:id')")
        expect(page.locator("h1")).to_contain_text("/product/:id")
        expect(page.locator("#histogram svg")).to_be_visible()
        expect(page.locator("#att-lcp + .table-wrap")).to_contain_text("#gallery > img.primary")

        # The live view: a beacon sent like a page sends it appears without a reload.
        page.goto(f"{base}/dashboard/sites/{key}/live")
        expect(page.locator("#live-status")).to_contain_text("Live: waiting for beacons")
        beacon = {"name": "LCP", "value": 1234, "rating": "good", "delta": 1234,
                  "id": "v5-browser-test", "navigationType": "navigate"}  # fmt: skip
        sent = httpx.post(
            f"{base}/api/vitals?site={key}",
            content=json.dumps(beacon),
            headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://shop.example"},
        )
        assert sent.status_code in (200, 204), sent.text
        expect(page.locator("#live-rows tr.fresh").first).to_contain_text("1.23 s")

        page.screenshot(path=tmp_path / "live.png")
        browser.close()
    assert problems == [], problems
