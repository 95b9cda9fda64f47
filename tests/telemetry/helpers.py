"""Helpers for telemetry tests: apps served in-process, metric samples, a served process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from tests.processes import perfbeacon_env, serving

# The read API's summary route as the HTTP contract names it.
SUMMARY_ROUTE = "/api/v1/sites/{key}/summary"


@asynccontextmanager
async def serving_in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Enter the app's lifespan and yield a client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://perfbeacon.test") as c:
            yield c


def ensure_summary_route(app: FastAPI) -> None:
    """Give the app a route at the summary template if the query API does not serve one."""
    if any(getattr(route, "path", None) == SUMMARY_ROUTE for route in app.routes):
        return

    @app.get(SUMMARY_ROUTE)
    async def summary(key: str) -> dict[str, str]:
        return {"site": key}


def label_sets(registry: CollectorRegistry, sample_name: str) -> list[dict[str, str]]:
    """The label sets of every sample called ``sample_name``."""
    return [
        dict(sample.labels)
        for family in registry.collect()
        for sample in family.samples
        if sample.name == sample_name
    ]


def served_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a served perfbeacon: no OTEL_* or PROMETHEUS_* from the machine."""
    env = perfbeacon_env(database_url)
    for name in [name for name in env if name.startswith(("OTEL_", "PROMETHEUS_"))]:
        del env[name]
    env.update(extra)
    return env


@contextmanager
def perfbeacon_serving(
    *args: str, env: dict[str, str], cwd: Path, output: Path, timeout: float = 30
) -> Iterator[tuple[str, float]]:
    """Run ``perfbeacon serve ARGS`` on a free port, its output going to ``output``."""
    with serving(*args, env=env, cwd=cwd, timeout=timeout, output=output) as served:
        yield served
