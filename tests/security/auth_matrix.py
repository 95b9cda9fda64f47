"""The expected answer of every route to every kind of caller, and the world they act in.

Callers: nobody (no credential), a wrong credential, the credential of another site
(or Lighthouse CI project), the site's own viewer credential, and an admin. How each
presents itself depends on the surface: a bearer token on the API, a build token
(``x-lhci-build-token``, as ``lhci upload`` sends it) on the LHCI API ``/v1``, a
session cookie on the dashboard.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from collector.sites.schemas import CreatedSite
from tests.budgets.helpers import FAST_ASSERTIONS, lhr, runs
from tests.conftest import ADMIN_TOKEN


class Who(StrEnum):
    """The five kinds of caller every route is tried with."""

    NOBODY = "no credential"
    WRONG = "wrong credential"
    OTHER = "other site's credential"
    VIEWER = "the site's viewer"
    ADMIN = "admin"


class Surface(StrEnum):
    """How a caller presents its credential."""

    API = "bearer token"
    LHCI = "build token"
    DASHBOARD = "session cookie"
    WEBSOCKET = "websocket"


WRONG_READ_TOKEN = "pbr_" + "x" * 43
FORGED_SESSION = "eyJyIjoiYWRtaW4iLCJzIjpudWxsLCJmIjoieCJ9.forged.signature"

_unique = itertools.count()


@dataclass
class World:
    """Two sites, their Lighthouse CI projects and builds, and one logged-in client per caller."""

    site: CreatedSite
    other_site: CreatedSite
    project: dict[str, Any]
    other_project: dict[str, Any]
    sealed_build_id: str
    runs_build_id: str
    seal_build_id: str
    check_build_id: str
    asset: str
    route: str = "/"
    dashboards: dict[Who, httpx.AsyncClient] = field(default_factory=dict)

    def bearer(self, who: Who) -> str | None:
        """The bearer token a caller presents on the API."""
        return {
            Who.NOBODY: None,
            Who.WRONG: WRONG_READ_TOKEN,
            Who.OTHER: self.other_site.read_token,
            Who.VIEWER: self.site.read_token,
            Who.ADMIN: ADMIN_TOKEN,
        }[who]

    def build_token(self, who: Who) -> str | None:
        """The Lighthouse CI build token a caller presents on ``/v1``."""
        return {
            Who.NOBODY: None,
            Who.WRONG: "not-a-build-token",
            Who.OTHER: self.other_project["token"],
            Who.VIEWER: self.project["token"],
            Who.ADMIN: None,
        }[who]

    def login_token(self, who: Who) -> str:
        """The token a caller types into the dashboard's login form."""
        return self.bearer(who) or ""

    def headers(self, surface: Surface, who: Who) -> dict[str, str]:
        """The credential headers of a caller on an API surface."""
        if surface is Surface.LHCI:
            token = self.build_token(who)
            if who is Who.ADMIN:
                return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            return {} if token is None else {"x-lhci-build-token": token}
        token = self.bearer(who)
        return {} if token is None else {"Authorization": f"Bearer {token}"}


Body = Callable[[World, Who], Any]

# Expected statuses in the order of ``Who``: nobody, wrong, other, viewer, admin.
Expected = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class Case:
    """How to call one route and what each caller must get."""

    method: str
    path: str
    surface: Surface
    expected: Expected
    body: Body | None = None
    form: Callable[[World, Who], dict[str, str]] | None = None
    # Rotating or revoking the site's token changes the world; this puts it back.
    restores_token: bool = False

    def expected_for(self, who: Who) -> int:
        """The status ``who`` must get."""
        return self.expected[list(Who).index(who)]

    def url(self, world: World) -> str:
        """The path with the world's keys and ids filled in."""
        return self.path.format(
            key=world.site.key,
            project_id=world.project["id"],
            slug=world.project["slug"],
            build_id=world.sealed_build_id,
            runs_build_id=world.runs_build_id,
            seal_build_id=world.seal_build_id,
            check_build_id=world.check_build_id,
            name=world.asset,
            route=world.route.lstrip("/"),
        )


PUBLIC: Expected = (200, 200, 200, 200, 200)
ADMIN_ONLY: Expected = (401, 401, 403, 403, 200)
SITE_READ: Expected = (401, 401, 404, 200, 200)
# Budget routes name the site by the read token itself: another site's token reads
# that other site; an admin token names no site.
BY_READ_TOKEN: Expected = (401, 401, 200, 200, 403)
LHCI_ADMIN: Expected = (401, 401, 401, 401, 200)
LHCI_READ: Expected = (401, 403, 403, 200, 200)
LHCI_WRITE: Expected = (401, 403, 403, 200, 401)
DASHBOARD_PAGE: Expected = (303, 303, 404, 200, 200)


def _n() -> int:
    return next(_unique)


def _site_body(_world: World, _who: Who) -> dict[str, Any]:
    return {"name": f"matrix-{_n()}"}


def _policy_body(_world: World, _who: Who) -> dict[str, Any]:
    return {"rate_limit_per_minute": None}


def _project_body(world: World, _who: Who) -> dict[str, Any]:
    return {"name": f"matrix project {_n()}", "siteKey": world.site.key}


def _lookup_body(world: World, who: Who) -> dict[str, Any]:
    token = ADMIN_TOKEN if who is Who.ADMIN else world.build_token(who)
    return {"token": token or ""}


def _build_body(_world: World, _who: Who) -> dict[str, Any]:
    return {"lifecycle": "unsealed", "hash": f"m{_n()}", "branch": "feature"}


def _run_body(world: World, _who: Who) -> dict[str, Any]:
    return {
        "url": "http://127.0.0.1:8765/index.html",
        "lhr": json.dumps(lhr("v1-index-1")),
        "projectId": world.project["id"],
        "buildId": world.runs_build_id,
    }


def _check_body(_world: World, _who: Who) -> dict[str, Any]:
    return {
        "build": {"hash": f"c{_n()}", "branch": "main"},
        "lhrs": runs("v1-index"),
        "assert": FAST_ASSERTIONS,
    }


def _config_body(_world: World, _who: Who) -> dict[str, Any]:
    return {"assert": FAST_ASSERTIONS}


def _beacon_body(world: World, _who: Who) -> dict[str, Any]:
    metric = {
        "name": "TTFB",
        "value": 120.0,
        "delta": 120.0,
        "rating": "good",
        "id": f"v5-matrix-{_n()}",
        "navigationType": "navigate",
    }
    return {"site": world.site.key, "metrics": [metric]}


def _login_form(world: World, who: Who) -> dict[str, str]:
    return {"token": world.login_token(who)}


def _no_fields(_world: World, _who: Who) -> dict[str, str]:
    return {}


CASES: tuple[Case, ...] = (
    # Public by design: probes, the API description, metrics for the scraper.
    Case("GET", "/openapi.json", Surface.API, PUBLIC),
    Case("GET", "/docs", Surface.API, PUBLIC),
    Case("GET", "/docs/oauth2-redirect", Surface.API, PUBLIC),
    Case("GET", "/redoc", Surface.API, PUBLIC),
    Case("GET", "/health", Surface.API, PUBLIC),
    Case("GET", "/ready", Surface.API, PUBLIC),
    Case("GET", "/metrics", Surface.API, PUBLIC),
    # Beacons name their site by its public key; no credential is involved.
    Case("POST", "/api/vitals", Surface.API, (204,) * 5, body=_beacon_body),  # type: ignore[arg-type]
    # Admin API.
    Case("GET", "/api/v1/sites", Surface.API, ADMIN_ONLY),
    Case("POST", "/api/v1/sites", Surface.API, (401, 401, 403, 403, 201), body=_site_body),
    Case("PATCH", "/api/v1/sites/{key}", Surface.API, ADMIN_ONLY, body=_policy_body),
    Case("POST", "/api/v1/sites/{key}/read-token", Surface.API, ADMIN_ONLY, restores_token=True),
    Case(
        "DELETE",
        "/api/v1/sites/{key}/read-token",
        Surface.API,
        (401, 401, 403, 403, 204),
        restores_token=True,
    ),
    # Read API, scoped to the site in the path.
    Case("GET", "/api/v1/sites/{key}/summary", Surface.API, SITE_READ),
    Case("GET", "/api/v1/sites/{key}/timeseries?metric=TTFB", Surface.API, SITE_READ),
    Case("GET", "/api/v1/sites/{key}/breakdown?metric=TTFB&by=device", Surface.API, SITE_READ),
    Case("GET", "/api/v1/sites/{key}/attribution?metric=LCP", Surface.API, SITE_READ),
    Case("GET", "/api/v1/sites/{key}/score", Surface.API, SITE_READ),
    Case("GET", "/api/v1/sites/{key}/export.csv", Surface.API, SITE_READ),
    Case("GET", "/api/v1/sites/{key}/export.ndjson", Surface.API, SITE_READ),
    Case("GET", "/api/v1/sites/{key}/comparison", Surface.API, SITE_READ),
    Case("GET", "/api/v1/sites/{key}/distribution?metric=LCP", Surface.API, SITE_READ),
    Case("GET", "/api/v1/sites/{key}/regressions", Surface.API, SITE_READ),
    # Budget checks.
    Case("POST", "/api/v1/budgets/check", Surface.API, BY_READ_TOKEN, body=_check_body),
    Case("PUT", "/api/v1/budgets/config", Surface.API, BY_READ_TOKEN, body=_config_body),
    Case("GET", "/api/v1/budgets/config", Surface.API, BY_READ_TOKEN),
    Case("GET", "/api/v1/budgets/checks", Surface.API, BY_READ_TOKEN),
    Case("GET", "/api/v1/budgets/checks/{check_build_id}", Surface.API, (401, 401, 404, 200, 403)),
    # The Lighthouse CI server API.
    Case("GET", "/v1/projects", Surface.LHCI, LHCI_ADMIN),
    Case("POST", "/v1/projects", Surface.LHCI, (401, 401, 401, 401, 201), body=_project_body),
    Case("POST", "/v1/projects/lookup", Surface.LHCI, (404, 404, 200, 200, 404), body=_lookup_body),
    Case("GET", "/v1/projects/slug:{slug}", Surface.LHCI, LHCI_READ),
    Case("GET", "/v1/projects/{project_id}", Surface.LHCI, LHCI_READ),
    Case("GET", "/v1/projects/{project_id}/builds", Surface.LHCI, LHCI_READ),
    Case("POST", "/v1/projects/{project_id}/builds", Surface.LHCI, LHCI_WRITE, body=_build_body),
    Case("GET", "/v1/projects/{project_id}/urls", Surface.LHCI, LHCI_READ),
    Case("GET", "/v1/projects/{project_id}/branches", Surface.LHCI, LHCI_READ),
    Case("GET", "/v1/projects/{project_id}/builds/{build_id}", Surface.LHCI, LHCI_READ),
    Case("GET", "/v1/projects/{project_id}/builds/{build_id}/ancestor", Surface.LHCI, LHCI_READ),
    Case("GET", "/v1/projects/{project_id}/builds/{build_id}/runs", Surface.LHCI, LHCI_READ),
    Case(
        "POST",
        "/v1/projects/{project_id}/builds/{runs_build_id}/runs",
        Surface.LHCI,
        LHCI_WRITE,
        body=_run_body,
    ),
    Case("GET", "/v1/projects/{project_id}/builds/{build_id}/urls", Surface.LHCI, LHCI_READ),
    Case(
        "PUT",
        "/v1/projects/{project_id}/builds/{seal_build_id}/lifecycle",
        Surface.LHCI,
        (401, 403, 403, 204, 401),
        body=lambda _world, _who: "sealed",
    ),
    Case("GET", "/v1/projects/{project_id}/builds/{build_id}/statistics", Surface.LHCI, LHCI_READ),
    # The link lhci upload prints: public, as the LHCI server's app is; it only redirects
    # to the dashboard, which asks for a login.
    Case("GET", "/app/projects/{slug}/compare/{build_id}", Surface.LHCI, (303,) * 5),  # type: ignore[arg-type]
    # The dashboard: a visitor is sent to the login page; another site's viewer gets a 404.
    Case("GET", "/dashboard/static/{name}", Surface.DASHBOARD, PUBLIC),
    Case("GET", "/dashboard/", Surface.DASHBOARD, PUBLIC),
    Case("GET", "/dashboard/sites/{key}", Surface.DASHBOARD, DASHBOARD_PAGE),
    Case("GET", "/dashboard/sites/{key}/pages", Surface.DASHBOARD, DASHBOARD_PAGE),
    Case("GET", "/dashboard/sites/{key}/routes/{route}", Surface.DASHBOARD, DASHBOARD_PAGE),
    Case("GET", "/dashboard/sites/{key}/budgets", Surface.DASHBOARD, DASHBOARD_PAGE),
    Case("GET", "/dashboard/sites/{key}/live", Surface.DASHBOARD, DASHBOARD_PAGE),
    Case(
        "POST", "/dashboard/login", Surface.DASHBOARD, (401, 401, 303, 303, 303), form=_login_form
    ),
    Case("POST", "/dashboard/logout", Surface.DASHBOARD, (303,) * 5, form=_no_fields),  # type: ignore[arg-type]
    # The live feed: 101 is an accepted handshake, 403 a refused one.
    Case("WEBSOCKET", "/ws/live?site={key}", Surface.WEBSOCKET, (403, 403, 403, 101, 101)),
)


def route_of(path: str) -> str:
    """The route template a case's path exercises (query string and fill-ins aside)."""
    template = path.split("?", 1)[0]
    replacements = {
        "{runs_build_id}": "{build_id}",
        "{seal_build_id}": "{build_id}",
        "{check_build_id}": "{build_id}",
        "{route}": "{route:path}",
    }
    for old, new in replacements.items():
        template = template.replace(old, new)
    return template
