"""The import contract (pyproject's [tool.importlinter], docs/architecture.md) holds, and
it would catch an arrow that runs the wrong way."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """Check the contract on the packages in ``tree`` (they shadow the installed ones)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def copy_of_the_tree(destination: Path) -> Path:
    for package in ("collector", "dashboard"):
        shutil.copytree(
            ROOT / package, destination / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def test_the_packages_keep_the_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        ("storage/tables.py", "import collector.ingest.writer", "Storage imports nothing"),
        ("query/sketch.py", "import collector.ingest.normalize", "Query never imports ingest"),
        ("telemetry/metrics.py", "import collector.query.service", "Telemetry never imports"),
        ("demo/generator.py", "import collector.app", "Only the entry points"),
        ("vitals.py", "import collector.storage.tables", "The vocabulary"),
        ("sites/service.py", "import collector.budgets.lab.service", "No cycle"),
        ("budgets/lhr.py", "import collector.runtime", "The layers"),
        ("budgets/lhci/projects.py", "import collector.budgets.lab.service", "No cycle"),
    ],
)
def test_a_wrong_way_import_breaks_the_contract(
    tmp_path: Path, module: str, wrong_import: str, contract: str
) -> None:
    tree = copy_of_the_tree(tmp_path)
    target = tree / "collector" / module
    target.write_text(target.read_text() + f"\n{wrong_import}  # noqa\n")

    result = lint_imports(tree)

    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout
