"""A Citus cluster a test session owns: a coordinator and two workers, each a private
PostgreSQL cluster on a loopback port with the extension loaded.

``../shared/citus/install.sh`` (run by ``.ci/run``) installs the extension; without it
the fixture fails, it never skips.

>>> with citus_cluster() as cluster:
...     url = cluster.url               # the coordinator's perfbeacon database URL
...     cluster.workers                 # the two workers' clusters
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.pgcluster import POSTGRES_BIN, Cluster, own_cluster

CITUS_LIBRARY = POSTGRES_BIN.parent / "lib" / "citus.so"
WORKERS = 2
# The database tests make their schemas in.
CITUS_DATABASE = "perfbeacon"
_SETTINGS = {
    "shared_preload_libraries": "citus",
    # Tests make many small databases; each needs the extension's background worker.
    "max_worker_processes": "32",
    "max_connections": "200",
    "citus.shard_count": "4",
}


@dataclass(frozen=True)
class CitusCluster:
    """A running cluster: the coordinator, its workers, and SQL against any node."""

    coordinator: Cluster
    workers: tuple[Cluster, ...]

    @property
    def url(self) -> str:
        """The coordinator's ``postgres`` database, as a perfbeacon database URL."""
        return self.coordinator.url

    def database_url(self, name: str) -> str:
        """The perfbeacon URL of database ``name`` on the coordinator."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.coordinator.port}/{name}"

    def create_database(self, name: str) -> str:
        """A fresh database with Citus on every node; its perfbeacon URL on the coordinator.

        A database is Citus-enabled per node: the workers need it too, and the
        coordinator must be told where they are in each one.
        """
        for node in (self.coordinator, *self.workers):
            psql(node, f'CREATE DATABASE "{name}"')
            psql(node, "CREATE EXTENSION citus", database=name)
        psql(
            self.coordinator,
            f"SELECT citus_set_coordinator_host('127.0.0.1', {self.coordinator.port})",
            database=name,
        )
        for worker in self.workers:
            psql(
                self.coordinator,
                f"SELECT citus_add_node('127.0.0.1', {worker.port})",
                database=name,
            )
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database made by ``create_database`` on every node."""
        for node in (self.coordinator, *self.workers):
            psql(node, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def psql(node: Cluster, sql: str, *, database: str = "postgres") -> str:
    """Run ``sql`` on ``node`` and return its unaligned output."""
    result = subprocess.run(
        [
            str(POSTGRES_BIN / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(node.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"psql on port {node.port} failed: {sql}\n{result.stderr}")
    return result.stdout.strip()


@contextmanager
def citus_cluster() -> Iterator[CitusCluster]:
    """Start a coordinator and two workers; stop and remove them at the end."""
    if not Path(CITUS_LIBRARY).exists():
        raise RuntimeError(
            f"Citus is not installed ({CITUS_LIBRARY} is missing): run ../shared/citus/install.sh"
        )
    with ExitStack() as stack:
        nodes = [stack.enter_context(own_cluster(_SETTINGS)) for _ in range(1 + WORKERS)]
        yield CitusCluster(coordinator=nodes[0], workers=tuple(nodes[1:]))
