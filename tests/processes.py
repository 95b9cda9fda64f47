"""Run the real ``perfbeacon`` command as a process, as users and CI do."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from tests.waiting import wait_until


def perfbeacon_command() -> list[str]:
    """The installed console script (falling back to the module next to this Python)."""
    script = Path(sys.executable).with_name("perfbeacon")
    if script.exists():
        return [str(script)]
    found = shutil.which("perfbeacon")
    if found is None:
        raise RuntimeError("the perfbeacon console script is not installed: pip install -e .")
    return [found]


def perfbeacon_env(database_url: str, **extra: str) -> dict[str, str]:
    """The current environment with perfbeacon's settings replaced."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFBEACON_")}
    env["PERFBEACON_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def run_perfbeacon(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``perfbeacon ARGS`` to completion, capturing its output."""
    return subprocess.run(
        [*perfbeacon_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_200(url: str) -> bool:
    """Whether a GET of ``url`` answers 200.

    Plain http.client: an httpx client builds an SSL context each time, and polling
    with it steals enough CPU to slow the very start-up being waited for.
    """
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=0.5)
    try:
        connection.request("GET", parts.path or "/")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def wait_until_healthy(
    base_url: str, process: subprocess.Popen[str], timeout: float, output: Path | None = None
) -> float:
    """Poll ``/health`` until it answers 200; return the seconds it took."""
    started = time.monotonic()

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"perfbeacon exited early:\n{_read(output)}")
        return answers_200(f"{base_url}/health")

    if not wait_until(healthy, within=timeout, interval=0.05):
        raise TimeoutError(
            f"perfbeacon did not answer /health within {timeout} s:\n{_read(output)}"
        )
    return time.monotonic() - started


def _read(output: Path | None) -> str:
    return output.read_text(errors="replace") if output is not None and output.exists() else ""


@contextmanager
def serving(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 30, output: Path | None = None
) -> Iterator[tuple[str, float]]:
    """Run ``perfbeacon serve ARGS`` on a free port; yield its base URL and start-up time.

    Its output goes to ``output`` (default: a log file in ``cwd``).
    """
    port = free_port()
    # A file, not a pipe: nobody reads a pipe while the server runs, and once its
    # buffer is full of access lines the server blocks on its next log line.
    output = output or cwd / f"perfbeacon-{port}.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [*perfbeacon_command(), "serve", "--port", str(port), *args],
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        yield base_url, wait_until_healthy(base_url, process, timeout, output)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
