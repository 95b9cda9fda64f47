"""Budgets benchmark, run by hand: assertion evaluation speed against Lighthouse CI's own
code (node, in process) and stored bytes per run against LHCI's uncompressed LHR text.

    python bench/budgets_bench.py [--lhr-dir DIR] [--iterations N]

DIR holds LHR JSON files (default: the trimmed test fixtures; full LHRs from
tools/lhci/collect-fixtures.sh show the real storage ratio).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector.budgets import lhr as lhr_format  # noqa: E402
from collector.budgets.lab.assert_config import evaluate_assertions  # noqa: E402

OPTIONS = {"preset": "lighthouse:recommended"}
NODE_LOOP = """
const {getAllAssertionResults} = require('@lhci/utils/src/assertions.js');
const fs = require('fs');
const dir = process.argv[1], n = Number(process.argv[2]);
const options = {...JSON.parse(process.argv[3]), includePassedAssertions: true};
const lhrs = fs.readdirSync(dir).filter(f => f.endsWith('.json'))
  .map(f => JSON.parse(fs.readFileSync(dir + '/' + f)));
getAllAssertionResults(options, lhrs);
const start = process.hrtime.bigint();
let count = 0;
for (let i = 0; i < n; i++) count = getAllAssertionResults(options, lhrs).length;
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(JSON.stringify({seconds, results: count}));
"""


def bench_evaluation(lhr_dir: Path, iterations: int) -> tuple[float, float, int]:
    lhrs = [
        lhr_format.parse_lhr_text(p.read_bytes(), source=p.name)
        for p in sorted(lhr_dir.glob("*.json"))
    ]
    evaluate_assertions(OPTIONS, lhrs)
    start = time.perf_counter()
    for _ in range(iterations):
        results = evaluate_assertions(OPTIONS, lhrs)
    ours = time.perf_counter() - start
    done = subprocess.run(
        ["node", "-e", NODE_LOOP, str(lhr_dir), str(iterations), json.dumps(OPTIONS)],
        cwd=ROOT / "tools" / "lhci",
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = json.loads(done.stdout)
    if theirs["results"] != len(results):
        raise SystemExit(
            f"result counts differ: lhci {theirs['results']}, perfbeacon {len(results)}"
        )
    return ours, theirs["seconds"], len(results)


def bench_storage(lhr_dir: Path) -> tuple[int, int, int, int]:
    raw = hot = cold = 0
    files = sorted(lhr_dir.glob("*.json"))
    for path in files:
        text = path.read_text()
        lhr = lhr_format.parse_lhr_text(text, source=path.name)
        raw += len(text.encode())
        hot += len(lhr_format.encode(lhr_format.summarize(lhr)).encode())
        cold += len(lhr_format.compress(text))
    return len(files), raw, hot, cold


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--lhr-dir", type=Path, default=ROOT / "tests" / "budgets" / "fixtures" / "lhr"
    )
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args()
    ours, theirs, count = bench_evaluation(args.lhr_dir, args.iterations)
    runs, raw, hot, cold = bench_storage(args.lhr_dir)
    print(f"LHRs: {args.lhr_dir} ({runs} runs), preset lighthouse:recommended, {count} results")
    print("| measure | perfbeacon | Lighthouse CI | ratio (LHCI / perfbeacon) |")
    print("| --- | --- | --- | --- |")
    print(
        f"| evaluate all assertions, ms per pass | {ours / args.iterations * 1000:.2f} "
        f"| {theirs / args.iterations * 1000:.2f} | {theirs / ours:.2f} |"
    )
    print(f"| stored bytes per run (hot) | {hot // runs} | {raw // runs} | {raw / hot:.1f} |")
    both = hot + cold
    print(
        f"| stored bytes per run (hot + full LHR gzip) | {both // runs} | {raw // runs} "
        f"| {raw / both:.1f} |"
    )


if __name__ == "__main__":
    main()
