"""Whatever a beacon carries renders as inert text: in HTML, in attributes and in SVG."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dashboard.rendering import route_url
from tests.dashboard.conftest import log_in
from tests.factories import make_site, sample, store_events

SCRIPT = '<script>alert("pwned")</script>'
ATTRIBUTE = '"onmouseover="alert(1)" data-pwned="'
ROUTE = f"/p/{SCRIPT}{ATTRIBUTE}"
PAGE = f"/p/{SCRIPT}?q={ATTRIBUTE}"
SELECTOR = f"div{ATTRIBUTE}> {SCRIPT}"
BROWSER = 'b"onmouseover="alert(1)"><script>alert(2)</script>'  # fits the 64-character column


class _Elements(HTMLParser):
    """Every element of a page with its attributes, and the text inside script elements."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)


def assert_inert(html: str) -> None:
    """No payload became markup: no handler attribute, no inline or foreign script."""
    parsed = _Elements()
    parsed.feed(html)
    for tag, attributes in parsed.elements:
        handlers = [name for name in attributes if name.startswith("on")]
        assert handlers == [], f"<{tag}> got event handler attributes {handlers}"
        assert "data-pwned" not in attributes, f"<{tag}> got an attribute from a payload"
        if tag == "script":
            assert (attributes.get("src") or "").startswith("/dashboard/static/"), attributes
    assert parsed.script_text == []
    assert SCRIPT not in html
    assert "<script>alert" not in html
    assert '"onmouseover=' not in html


@pytest.fixture
async def hostile_site(engine: AsyncEngine) -> tuple[str, str]:
    site = await make_site(engine)
    await store_events(
        engine,
        [
            sample(site.id, "LCP", 3000, route=ROUTE, page_path=PAGE, browser=BROWSER,
                  attribution={"target": SELECTOR, "url": f"https://x.example/{SCRIPT}"}),
            sample(site.id, "INP", 400, route=ROUTE, page_path=PAGE, browser=BROWSER,
                  attribution={"interactionTarget": SELECTOR, "interactionType": ATTRIBUTE,
                               "inputDelay": 10.0}),
            sample(site.id, "CLS", 0.3, route=ROUTE, page_path=PAGE, browser=BROWSER,
                  attribution={"largestShiftTarget": SELECTOR, "loadState": SCRIPT}),
            sample(site.id, "TTFB", 300, route=ROUTE, page_path=PAGE, browser=BROWSER),
        ],
    )  # fmt: skip
    return site.key, site.read_token


async def test_payloads_render_inert_in_every_view(
    client: httpx.AsyncClient, hostile_site: tuple[str, str]
) -> None:
    key, token = hostile_site
    await log_in(client, token)
    views = {
        "overview": f"/dashboard/sites/{key}",
        "pages": f"/dashboard/sites/{key}/pages",
        "route": route_url(key, ROUTE),
        "live": f"/dashboard/sites/{key}/live",
    }

    pages = {name: (await client.get(path)) for name, path in views.items()}

    for name, response in pages.items():
        assert response.status_code == 200, name
        assert_inert(response.text)
    # The payloads are there, as text: escaped in element text, attributes and SVG.
    route_html = pages["route"].text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in route_html
    assert "<title>p75 LCP of /p/&lt;script&gt;" in route_html
    assert (
        "div&#34;onmouseover=&#34;alert(1)&#34; data-pwned=&#34;&gt; &lt;script&gt;" in route_html
    )
    assert (
        '<option value="b&#34;onmouseover=&#34;alert(1)&#34;&gt;&lt;script&gt;'
        in pages["overview"].text
    )
    assert "/p/&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;?q=" in pages["live"].text


async def test_payloads_in_the_url_render_inert(
    client: httpx.AsyncClient, hostile_site: tuple[str, str]
) -> None:
    key, token = hostile_site
    await log_in(client, token)

    shown = await client.get(f"/dashboard/sites/{key}", params={"route": ROUTE, "window": SCRIPT})
    missing = await client.get(route_url(key, "/nothing" + SCRIPT))
    login = await client.get("/dashboard/", params={"next": f"/dashboard/{ATTRIBUTE}"})

    for response in (shown, missing, login):
        assert_inert(response.text)
    assert "Ignored window “&lt;script&gt;" in shown.text
    assert missing.status_code == 404
