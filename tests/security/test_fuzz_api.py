"""Schemathesis against the app's own OpenAPI schema: every operation, valid credentials,
a bounded number of generated requests each; none may get a 5xx or a malformed answer.

The collector runs as a real process on SQLite. Path parameters naming a site or a
project are pointed at real ones, so requests reach the handlers instead of stopping
at a 404; everything else (queries, bodies, other path parameters) is generated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from collector.app import create_app
from collector.config import Settings
from tests.conftest import ADMIN_TOKEN
from tests.processes import perfbeacon_env, run_perfbeacon, serving

EXAMPLES_PER_OPERATION = 25
# Every operation but the beacon endpoint, which has its own hostile corpus and is
# served below FastAPI (not in the schema), and the dashboard's HTML pages.
FUZZED_PATHS = r"^/(health|ready|metrics|api/|v1/)"
CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
]


class FuzzTarget:
    """A running collector with one site and one Lighthouse CI project to aim at."""

    def __init__(self, base_url: str, site: dict[str, Any], project: dict[str, Any]) -> None:
        self.base_url = base_url
        self.site = site
        self.project = project

    def headers_for(self, path: str) -> dict[str, str]:
        """Credentials that let a request to ``path`` through to its handler."""
        if path.startswith("/api/v1/budgets"):
            # These routes name their site by its read token.
            return {"Authorization": f"Bearer {self.site['read_token']}"}
        return {
            "Authorization": f"Bearer {ADMIN_TOKEN}",
            "x-lhci-build-token": self.project["token"],
        }

    def aim(self, case: schemathesis.Case) -> None:
        """Point path parameters that name a site or project at real ones."""
        parameters = case.path_parameters
        if parameters is None:
            return
        if "key" in parameters:
            parameters["key"] = self.site["key"]
        if "project_id" in parameters:
            parameters["project_id"] = self.project["id"]


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    env = perfbeacon_env("sqlite+aiosqlite:///./perfbeacon.db", PERFBEACON_ADMIN_TOKEN=ADMIN_TOKEN)
    created = run_perfbeacon(
        "site", "create", "fuzzed", "--origin", "https://shop.example", env=env, cwd=workdir
    )
    assert created.returncode == 0, created.stderr
    site = json.loads(created.stdout)
    with serving(env=env, cwd=workdir) as (base_url, _):
        project = httpx.post(
            f"{base_url}/v1/projects",
            json={"name": "fuzzed project", "siteKey": site["key"]},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert project.status_code == 201, project.text
        yield FuzzTarget(base_url, site, project.json())


def _openapi_document() -> dict[str, Any]:
    # Building the app opens nothing (no database, no server), so the schema, and with
    # it one test per operation, is known when tests are collected.
    unused = Settings(_env_file=None, database_url="sqlite+aiosqlite:///unused.db")  # type: ignore[call-arg]
    return create_app(unused).openapi()


# Generated requests only: the coverage phase enumerates every boundary value of every
# field, which for the budget check's large body alone runs for minutes.
schema = schemathesis.openapi.from_dict(
    _openapi_document(),
    config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}}),
).include(path_regex=FUZZED_PATHS)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    # Shrinking a failure can take minutes; the first failing request is reported as is.
    phases=[Phase.explicit, Phase.generate],
)
def test_no_operation_fails_or_answers_out_of_schema(
    case: schemathesis.Case, fuzz_target: FuzzTarget
) -> None:
    fuzz_target.aim(case)
    case.call_and_validate(
        base_url=fuzz_target.base_url,
        headers=fuzz_target.headers_for(case.path),
        checks=CHECKS,
        timeout=10,
    )
