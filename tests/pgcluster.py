"""A PostgreSQL cluster a test owns: ``initdb`` into a temp dir, its own port, start and stop.

Fault tests stop and start it; the shared test server is never touched.

>>> with own_cluster() as cluster:
...     cluster.stop()          # pg_ctl stop -m fast
...     cluster.start()
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.processes import free_port

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def initdb_path() -> Path | None:
    """The ``initdb`` to use, or None when PostgreSQL's server binaries are missing."""
    candidate = POSTGRES_BIN / "initdb"
    if candidate.exists():
        return candidate
    found = shutil.which("initdb")
    return Path(found) if found else None


class Cluster:
    """A running private cluster: its URL, and pg_ctl to stop and start it."""

    def __init__(
        self,
        bin_dir: Path,
        data: Path,
        port: int,
        log: Path,
        server_settings: Mapping[str, str] | None = None,
    ) -> None:
        self.bin_dir = bin_dir
        self.data = data
        self.port = port
        self.log = log
        self.server_settings = dict(server_settings or {})

    @property
    def url(self) -> str:
        """The perfbeacon database URL of the cluster's ``postgres`` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=on"
        for name, value in self.server_settings.items():
            options += f" -c {name}={value}"
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log), "-o", options)

    def stop(self) -> None:
        """Stop the server the way an operator restarting it would: fast shutdown."""
        self._pg_ctl("stop", "-w", "-t", "60", "-m", "fast")

    def _pg_ctl(self, *args: str) -> None:
        _run_as_owner([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args])


@contextmanager
def own_cluster(server_settings: Mapping[str, str] | None = None) -> Iterator[Cluster]:
    """Create, start and finally remove a private cluster on a free loopback port."""
    initdb = initdb_path()
    if initdb is None:
        raise RuntimeError("initdb is not installed")
    root = Path(tempfile.mkdtemp(prefix="perfbeacon-pg-"))
    data, log = root / "data", root / "server.log"
    _hand_to_owner(root)
    cluster = Cluster(initdb.parent, data, free_port(), log, server_settings)
    try:
        _run_as_owner([str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"])
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _hand_to_owner(path: Path) -> None:
    # PostgreSQL refuses to run as root; under root its files belong to "postgres".
    if os.geteuid() == 0:
        shutil.chown(path, user="postgres", group="postgres")


def _run_as_owner(command: list[str]) -> None:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
