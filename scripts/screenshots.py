"""Take the screenshots in docs/screenshots: every dashboard view of the demo site.

Runs ``perfbeacon serve --demo`` on a throw-away SQLite database, logs in with the
demo's read token in Debian's chromium (Playwright drives it) and captures each
view at 1280×800 and 390×844. Usage: ``python scripts/screenshots.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.processes import free_port, perfbeacon_command, perfbeacon_env  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SIZES = {"desktop": (1280, 800), "mobile": (390, 844)}
PIXEL_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
)


def main() -> None:
    """Serve the demo, then capture every view at both sizes."""
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = perfbeacon_env(f"sqlite+aiosqlite:///{tmp}/demo.db")
        server = subprocess.Popen(
            [*perfbeacon_command(), "serve", "--demo", "--port", str(port)],
            env=env,
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            base, key, token = _wait_for_demo(server, port)
            _capture(base, key, token)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_for_demo(server: subprocess.Popen[str], port: int) -> tuple[str, str, str]:
    assert server.stdout is not None
    lines = []
    for line in server.stdout:
        lines.append(line)
        if line.strip().startswith("read token:"):
            break
    text = "".join(lines)
    key = re.search(r"site key:\s+(\S+)", text)
    token = re.search(r"read token:\s+(\S+)", text)
    if key is None or token is None:
        raise RuntimeError(f"perfbeacon serve --demo printed no key and token:\n{text}")
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return base, key.group(1), token.group(1)


def _capture(base: str, key: str, token: str) -> None:
    views = {
        "login": "/dashboard/",
        "overview": f"/dashboard/sites/{key}",
        "pages": f"/dashboard/sites/{key}/pages",
        "route": f"/dashboard/sites/{key}/routes/product/:id",
        "budgets": f"/dashboard/sites/{key}/budgets",
        "live": f"/dashboard/sites/{key}/live",
        "not-found": f"/dashboard/sites/{key}/routes/no-such-route",
        "bad-filter": f"/dashboard/sites/{key}?window=forever&device=fridge",
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for size, (width, height) in SIZES.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(base + views["login"])
            page.screenshot(path=OUT / f"login-{size}.png")
            _log_in(page, token)
            for name, path in views.items():
                if name == "login":
                    continue
                page.goto(base + path)
                if name == "live" and _send_beacon(base, key):
                    page.wait_for_selector("#live-rows tr.fresh")
                page.screenshot(path=OUT / f"{name}-{size}.png", full_page=True)
            page.close()
        browser.close()
    print(json.dumps(sorted(p.name for p in OUT.glob("*.png")), indent=1))


def _log_in(page: Page, token: str) -> None:
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/dashboard/sites/.*"))


def _send_beacon(base: str, key: str) -> bool:
    """Send one beacon as a page would; whether it was stored."""
    time.sleep(0.5)  # let the page open its WebSocket first
    metric = {"name": "INP", "value": 184, "rating": "good", "delta": 184, "id": "v5-shot"}
    beacon = {"site": key, "page": "https://shop.example/checkout", "metrics": [metric]}
    response = httpx.post(
        f"{base}/api/vitals",
        content=json.dumps(beacon),
        headers={"Content-Type": "text/plain", "User-Agent": PIXEL_CHROME},
    )
    return response.status_code in (200, 204)


if __name__ == "__main__":
    main()
