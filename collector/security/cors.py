"""CORS for the read API only, and only for origins the operator lists.

Beacons (``/api/vitals``) answer CORS themselves, for the origins each site
allows. Everything else — the admin API, the Lighthouse CI API, the dashboard,
``/metrics`` — answers no CORS at all, so no other origin's page can read it
through a visitor's browser.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

READ_API_PREFIX = "/api/v1/sites/"


class ReadApiCors:
    """Applies CORS (GET, bearer token, no cookies) to the read API; other paths pass by.

    >>> app = ReadApiCors(inner_app, origins=["https://grafana.example"])  # doctest: +SKIP
    """

    def __init__(self, app: ASGIApp, *, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET"],
            allow_headers=["Authorization"],
            # Read tokens travel in a header; cookies are never needed cross-origin.
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(READ_API_PREFIX):
            await self.cors(scope, receive, send)
            return
        await self.app(scope, receive, send)
