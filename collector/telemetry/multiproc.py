"""The directory several worker processes share their metric values through.

prometheus-client's multiprocess mode has each worker write its values to files in
``PROMETHEUS_MULTIPROC_DIR``; a scrape answered by any worker sums them all. The
directory must start empty (old files would be counted again), so the serving
process prepares it before it starts the workers and cleans it when they are gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def shared_metrics_directory(configured: str | None) -> Iterator[Path]:
    """An empty metrics directory, exported to worker processes while the block runs.

    ``configured`` (the operator's ``PROMETHEUS_MULTIPROC_DIR``) is created if
    missing and emptied of metric files before and after; without one, a private
    temporary directory is made and removed afterwards. The variable is set in this
    process, and so in the workers it starts, only while the block runs.
    """
    if configured is None:
        path = Path(tempfile.mkdtemp(prefix="perfbeacon-metrics-"))
    else:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        _remove_metric_files(path)
    # Workers are spawned after this and inherit the variable; prometheus-client
    # reads it when it is imported there.
    os.environ[MULTIPROC_DIR_VARIABLE] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_DIR_VARIABLE, None)
        if configured is None:
            shutil.rmtree(path, ignore_errors=True)
        else:
            _remove_metric_files(path)


def _remove_metric_files(path: Path) -> None:
    # Only prometheus-client's own files: the operator's directory may hold others.
    for metric_file in path.glob("*.db"):
        metric_file.unlink(missing_ok=True)
