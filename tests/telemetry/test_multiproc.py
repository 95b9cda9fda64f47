"""The directory worker processes share metrics through: fresh at start, gone at exit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collector.telemetry.multiproc import MULTIPROC_DIR_VARIABLE, shared_metrics_directory


def test_a_private_directory_is_made_exported_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPROC_DIR_VARIABLE, raising=False)
    with shared_metrics_directory(None) as path:
        assert path.is_dir()
        assert list(path.iterdir()) == []
        assert os.environ[MULTIPROC_DIR_VARIABLE] == str(path)
        (path / "counter_123.db").write_bytes(b"values")
    assert not path.exists()
    assert MULTIPROC_DIR_VARIABLE not in os.environ


def test_the_operators_directory_keeps_its_other_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(MULTIPROC_DIR_VARIABLE, raising=False)
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "gauge_livesum_99.db").write_bytes(b"stale")
    (directory / "README").write_text("not a metric file")
    with shared_metrics_directory(str(directory)) as path:
        assert sorted(p.name for p in path.iterdir()) == ["README"]
        assert os.environ[MULTIPROC_DIR_VARIABLE] == str(directory)
        (path / "histogram_7.db").write_bytes(b"values")
    assert sorted(p.name for p in directory.iterdir()) == ["README"]
    assert MULTIPROC_DIR_VARIABLE not in os.environ
