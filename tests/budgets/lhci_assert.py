"""Run the real ``lhci assert`` on a parity case, and capture its results as fixtures.

``python -m tests.budgets.lhci_assert`` rewrites fixtures/expected/*.json from the
installed ``lhci`` (tools/lhci, ``npm ci``); the tests compare perfbeacon with them, and
with a live ``lhci assert`` wherever it is installed.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.budgets.parity_cases import CASES, EXPECTED_DIR, LHR_DIR, ParityCase

ROOT = Path(__file__).resolve().parents[2]
LHCI = ROOT / "tools" / "lhci" / "node_modules" / ".bin" / "lhci"
COMPARED = (
    "url",
    "auditId",
    "auditProperty",
    "name",
    "level",
    "operator",
    "expected",
    "actual",
    "values",
    "passed",
    "message",
)


def lhci_available() -> bool:
    """True when ``npm ci`` installed lhci in tools/lhci and node is on PATH."""
    return LHCI.exists() and shutil.which("node") is not None


def run_lhci_assert(case: ParityCase) -> dict[str, Any]:
    """``lhci assert --includePassedAssertions`` on the case: its exit code and results."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        saved = work / ".lighthouseci"
        saved.mkdir()
        for i, name in enumerate(case.lhrs):
            shutil.copy(LHR_DIR / name, saved / f"lhr-{1000 + i}.json")
        (work / "lighthouserc.json").write_text(json.dumps(case.lighthouserc()))
        if case.budgets is not None:
            (work / "budget.json").write_text(json.dumps(case.budgets))
        done = subprocess.run(
            [str(LHCI), "assert", "--config=./lighthouserc.json", "--includePassedAssertions"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        results = json.loads((saved / "assertion-results.json").read_text())
    return {"exit_code": done.returncode, "results": normalize(results)}


def normalize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Comparable results: the compared fields only, numbers rounded, a stable order."""
    rows = [{key: _round(result.get(key)) for key in COMPARED} for result in results]
    return sorted(rows, key=lambda r: (r["url"], r["auditId"], r["auditProperty"] or "", r["name"]))


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def main() -> None:
    EXPECTED_DIR.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        captured = run_lhci_assert(case)
        (EXPECTED_DIR / f"{case.name}.json").write_text(json.dumps(captured, indent=1) + "\n")
        print(f"{case.name}: exit {captured['exit_code']}, {len(captured['results'])} results")


if __name__ == "__main__":
    main()
