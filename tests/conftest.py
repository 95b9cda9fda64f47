"""Fixtures: every database test runs on SQLite and on the real PostgreSQL, and the tests
marked ``citus`` on a Citus cluster too."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.app import create_app
from collector.config import Settings
from collector.storage.db import create_engine
from collector.storage.migrate import upgrade
from tests.citus import CITUS_DATABASE, CitusCluster, citus_cluster
from tests.databases import postgres_schema, sqlite_url
from tests.processes import free_port

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def private_spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's collectors spool into the test's own directory."""
    directory = tmp_path / "spool"
    monkeypatch.setenv("PERFBEACON_SPOOL_DIR", str(directory))
    return directory


DATABASES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that takes a database on every kind: SQLite, PostgreSQL, and Citus
    for the tests marked ``citus`` (a test that names its kinds itself keeps them)."""
    if "database_url" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        if "database_url" in str(marker.args[0]):
            return
    kinds = [*DATABASES, "citus"] if metafunc.definition.get_closest_marker("citus") else DATABASES
    metafunc.parametrize("database_url", kinds, indirect=True)


@pytest.fixture(scope="session")
def citus() -> Iterator[CitusCluster]:
    """One Citus cluster (a coordinator, two workers) for this test process, started on
    first use; each test gets its own schema in its database."""
    with citus_cluster() as cluster:
        cluster.create_database(CITUS_DATABASE)
        yield cluster


@pytest.fixture
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind, private to the test."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    if request.param == "citus":
        cluster: CitusCluster = request.getfixturevalue("citus")
        async with postgres_schema(cluster.database_url(CITUS_DATABASE)) as url:
            yield url
        return
    async with postgres_schema() as url:
        yield url


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest schema once; tests start from copies of it."""
    url = sqlite_url(tmp_path_factory.mktemp("migrated"))
    asyncio.run(_migrate(url))
    return Path(str(make_url(url).database))


def _copy_migrated_sqlite(template: Path, database_url: str) -> None:
    # A copy of a migrated file is the same database as a fresh migration, for a
    # fraction of the cost; tests/storage covers the migrations themselves.
    target = Path(str(make_url(database_url).database))
    assert not target.exists(), "the private database was used before migrating"
    shutil.copyfile(template, target)


@pytest.fixture
async def engine(database_url: str, migrated_sqlite_file: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a migrated private database."""
    if database_url.startswith("sqlite"):
        _copy_migrated_sqlite(migrated_sqlite_file, database_url)
        engine = create_engine(database_url)
    else:
        engine = create_engine(database_url)
        await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for an app on the private database, with a known admin token."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
    )


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """A perfbeacon app with its lifespan entered (ASGITransport does not run it)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://perfbeacon.test") as client:
        yield client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    """Headers carrying the admin token."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app served by a real uvicorn on a loopback port, in this event loop."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn only offers this flag
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await task
