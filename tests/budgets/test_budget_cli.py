"""``perfbeacon budget check``: outputs and exit codes, offline and against a server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.budgets.parity_cases import LHR_DIR
from tests.conftest import ADMIN_TOKEN
from tests.processes import perfbeacon_command, perfbeacon_env, serving

RC_JS = """// Budgets for the shop.
module.exports = {
  ci: {
    assert: {
      assertions: {
        'categories:performance': ['error', {minScore: 0.9}],
        'interactive': ['warn', {maxNumericValue: 3000}],
      },
    },
  },
};
"""


# Far deeper than Python's recursion limit, as JSON and as YAML.
DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_YAML = "ci:\n  assert:\n    x: " + "[" * 3000 + "]" * 3000 + "\n"


BUNDLE_BUDGETS = {"budgets": [{"type": "all", "maximumError": "1mb"}]}


def lighthouseci(tmp_path: Path, prefix: str) -> Path:
    """A .lighthouseci directory with the three runs of one URL."""
    saved = tmp_path / ".lighthouseci"
    shutil.rmtree(saved, ignore_errors=True)
    saved.mkdir()
    for i in (1, 2, 3):
        shutil.copy(LHR_DIR / f"{prefix}-{i}.json", saved / f"lhr-{i}.json")
    return saved


def run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*perfbeacon_command(), "budget", "check", *args],
        cwd=tmp_path,
        env=env or perfbeacon_env("sqlite+aiosqlite:///unused.db"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_fail_exits_1_and_names_the_broken_assertions(tmp_path: Path) -> None:
    lighthouseci(tmp_path, "v1-heavy")
    write(tmp_path, "lighthouserc.js", RC_JS)
    result = run(tmp_path, "--lhr", ".lighthouseci", "--config", "lighthouserc.js")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("Budget check: FAIL")
    assert (
        "failure: http://127.0.0.1:8765/heavy.html categories.performance minScore" in result.stdout
    )
    assert "expected: >=0.9  found: 0.78" in result.stdout
    assert "warning: http://127.0.0.1:8765/heavy.html interactive maxNumericValue" in result.stdout


def test_warn_exits_0(tmp_path: Path) -> None:
    lighthouseci(tmp_path, "v1-index")
    write(
        tmp_path,
        "lighthouserc.json",
        {
            "ci": {
                "assert": {"assertions": {"categories:best-practices": ["warn", {"minScore": 1}]}}
            }
        },
    )
    result = run(
        tmp_path, "--lhr", ".lighthouseci", "--config", "lighthouserc.json", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "warn"
    assert report["results"][0]["actual"] == 0.96


def test_pass_exits_0_with_yaml_and_budget_json(tmp_path: Path) -> None:
    lighthouseci(tmp_path, "v1-index")
    write(
        tmp_path,
        "budget.json",
        [{"path": "/index.html", "timings": [{"metric": "interactive", "budget": 2000}]}],
    )
    write(tmp_path, "lighthouserc.yml", "ci:\n  assert:\n    budgetsFile: budget.json\n")
    result = run(
        tmp_path, "--lhr", ".lighthouseci", "--config", "lighthouserc.yml", "--format", "markdown"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("### ✅ Performance budgets: **pass**")


def test_js_config_without_node_reads_the_literal(tmp_path: Path) -> None:
    lighthouseci(tmp_path, "v1-heavy")
    write(tmp_path, "lighthouserc.js", RC_JS)
    no_node = {
        **perfbeacon_env("sqlite+aiosqlite:///unused.db"),
        "PATH": str(Path(perfbeacon_command()[0]).parent),
    }
    result = run(
        tmp_path,
        "--lhr",
        ".lighthouseci",
        "--config",
        "lighthouserc.js",
        "--format",
        "junit",
        env=no_node,
    )
    assert result.returncode == 1, result.stderr
    suite = ET.fromstring(result.stdout)
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")

    write(
        tmp_path,
        "computed.js",
        "const base = 0.9;\n"
        "module.exports = {ci: {assert: {assertions: {x: ['error', {minScore: base}]}}}};\n",
    )
    computed = run(tmp_path, "--lhr", ".lighthouseci", "--config", "computed.js", env=no_node)
    assert computed.returncode == 2
    assert "node is not installed and module.exports is not a plain literal" in computed.stderr


# The command with a 1 s node timeout; a process, so that a missing timeout fails the
# test by the run's own timeout instead of hanging it.
SHORT_NODE_TIMEOUT = (
    "from collector.budgets.lab import config_files\n"
    "config_files.NODE_TIMEOUT_SECONDS = 1\n"
    "from collector.cli import main\n"
    "main()\n"
)


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs .js configs")
def test_js_config_that_never_finishes_exits_2(tmp_path: Path) -> None:
    write(tmp_path, "hang.js", "while (true) {}\n")
    result = subprocess.run(
        [sys.executable, "-c", SHORT_NODE_TIMEOUT, "budget", "check", "--config", "hang.js"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == "perfbeacon: hang.js: node did not finish within 1 s\n"


def test_bundle_budgets_on_a_dist_directory(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "main-5XK2BZ3Q.js").write_bytes(b"x" * 300_000)
    (dist / "polyfills-AB12CD34.js").write_bytes(b"x" * 30_000)
    (dist / "lazy-chunk-ZZ99YY88.js").write_bytes(b"x" * 10_000)
    write(
        tmp_path,
        "budgets.json",
        {"budgets": [{"type": "initial", "maximumWarning": "300kb", "maximumError": "320kb"}]},
    )
    result = run(tmp_path, "--config", "budgets.json", "--bundle-stats", "dist", "--format", "json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert {r["name"]: r["actual"] for r in report["results"]} == {
        "maximumWarning": 330_000,
        "maximumError": 330_000,
    }


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({}, ["--lhr", ".lighthouseci", "--config", "missing.json"], "missing.json: no such file"),
        (
            {"rc.json": "{"},
            ["--lhr", ".lighthouseci", "--config", "rc.json"],
            "rc.json: not valid JSON",
        ),
        (
            {"rc.json": {"ci": {"assert": {"assertions": {"interactive": "fatal"}}}}},
            ["--lhr", ".lighthouseci", "--config", "rc.json"],
            "unknown level 'fatal'",
        ),
        (
            {"rc.json": {"ci": {"assert": {"assertions": {"no-such-audit": "error"}}}}},
            ["--lhr", ".lighthouseci", "--config", "rc.json"],
            "unknown audit id(s): no-such-audit",
        ),
        (
            {"rc.json": {"ci": {"assert": {"presets": "lighthouse:all"}}}},
            ["--lhr", ".lighthouseci", "--config", "rc.json"],
            "unknown option(s) 'presets'",
        ),
        (
            {"rc.json": {"ci": {"assert": {"preset": "lighthouse:all"}}}},
            ["--lhr", "nowhere", "--config", "rc.json"],
            "nowhere: no such file or directory",
        ),
        (
            {"rc.json": {"ci": {"assert": {"preset": "lighthouse:all"}}}},
            ["--lhr", "empty", "--config", "rc.json"],
            "no lhr-*.json files",
        ),
        (
            {
                "rc.json": {"ci": {"assert": {"preset": "lighthouse:all"}}},
                "broken/lhr-1.json": '{"finalUrl": "http://x.test/"}',
            },
            ["--lhr", "broken", "--config", "rc.json"],
            "malformed LHR: 'audits' is missing",
        ),
        (
            {
                "b.json": {"budgets": [{"type": "initial", "maximumError": "20 potatoes"}]},
                "stats.json": {"main.js": 1},
            },
            ["--config", "b.json", "--bundle-stats", "stats.json"],
            "'20 potatoes' is not a size",
        ),
        (
            {"rc.json": {"ci": {"assert": {"preset": "lighthouse:all"}}}},
            ["--lhr", ".lighthouseci", "--config", "rc.json", "--format", "html"],
            "--format must be one of",
        ),
        ({}, ["--lhr", ".lighthouseci"], "give --config"),
        (
            {"field.json": {"fieldBudgets": [{"metric": "LCP", "max": 2500}]}},
            ["--config", "field.json"],
            "field budgets are checked against the site's RUM data on a perfbeacon server",
        ),
        (
            {"rc.json": {"ci": {}, "perfbeacon": {"fieldBudgets": [{"metric": "LCP", "max": 1}]}}},
            ["--config", "rc.json"],
            "field budgets are checked against the site's RUM data on a perfbeacon server",
        ),
        (
            {"field.json": {"fieldBudgets": [], "budgets": 1}},
            ["--config", "field.json"],
            "field.json: unknown option(s) budgets",
        ),
        (
            {"rc.json": {"ci": {"assert": {"preset": "lighthouse:all"}}}, "deep.json": DEEP_JSON},
            ["--lhr", "deep.json", "--config", "rc.json"],
            "deep.json: nested too deeply to read",
        ),
        ({"deep.json": DEEP_JSON}, ["--config", "deep.json"], "deep.json: nested too deeply"),
        ({"deep.yml": DEEP_YAML}, ["--config", "deep.yml"], "deep.yml: nested too deeply"),
        (
            {"b.json": BUNDLE_BUDGETS, "w.json": {"weird": 1}},
            ["--config", "b.json", "--bundle-stats", "w.json"],
            "bundle stats: 'weird' is not a file name with an extension",
        ),
        (
            {"b.json": BUNDLE_BUDGETS},
            ["--config", "b.json", "--bundle-stats", "empty"],
            "bundle stats list no files",
        ),
        (
            {"b.json": BUNDLE_BUDGETS, "neg.json": {"files": [{"name": "main.js", "size": -5}]}},
            ["--config", "b.json", "--bundle-stats", "neg.json"],
            "files[0].size: -5 is negative",
        ),
        (
            {"b.json": BUNDLE_BUDGETS},
            ["--config", "b.json", "--server", "http://[::1", "--token", "x"],
            "--server 'http://[::1' is not a URL",
        ),
        (
            {"b.json": BUNDLE_BUDGETS},
            ["--config", "b.json", "--server", "localhost:8000", "--token", "x"],
            "--server 'localhost:8000': give the base URL",
        ),
        (
            {"b.json": BUNDLE_BUDGETS},
            ["--config", "b.json", "--server", "http://127.0.0.1:1", "--token", "jeton-é"],
            "--token: a read token is printable ASCII",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_problem(
    tmp_path: Path, files: dict[str, Any], args: list[str], message: str
) -> None:
    lighthouseci(tmp_path, "v1-index")
    (tmp_path / "empty").mkdir()
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write(tmp_path, name, content)
    result = run(tmp_path, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def check_bundles(
    tmp_path: Path, server: str, commit_hash: str
) -> subprocess.CompletedProcess[str]:
    """``budget check`` of bundle budgets against ``server``, from commit ``commit_hash``."""
    write(tmp_path, "b.json", BUNDLE_BUDGETS)
    env = perfbeacon_env(
        "sqlite+aiosqlite:///unused.db",
        LHCI_BUILD_CONTEXT__CURRENT_HASH=commit_hash,
        LHCI_BUILD_CONTEXT__CURRENT_BRANCH="main",
    )
    return run(tmp_path, "--config", "b.json", "--server", server, "--token", "x", env=env)


def test_a_bad_build_context_variable_is_named(tmp_path: Path) -> None:
    # Refused before any request: nothing listens on port 1.
    result = check_bundles(tmp_path, "http://127.0.0.1:1", "a" * 200)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("perfbeacon: LHCI_BUILD_CONTEXT__CURRENT_HASH: ")
    assert "at most 64 characters" in result.stderr
    assert len(result.stderr.splitlines()) == 1


class HtmlPages(BaseHTTPRequestHandler):
    """Answers every POST with a long HTML page: 200 under /ok/, else 404."""

    def do_POST(self) -> None:
        body = ("<!doctype html>\n<html>\n" + "<p>Not here</p>\n" * 500 + "</html>\n").encode()
        self.send_response(200 if self.path.startswith("/ok/") else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def html_server() -> Iterator[str]:
    """The base URL of a server that is not perfbeacon."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), HtmlPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/dashboard", "the server refused the check (404): text/html: <!doctype html> <html>"),
        ("/ok/", "did not answer a budget check (200): text/html: <!doctype html> <html>"),
    ],
)
def test_an_html_answer_is_shown_as_one_short_line(
    tmp_path: Path, html_server: str, path: str, message: str
) -> None:
    result = check_bundles(tmp_path, html_server + path, "a" * 40)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert len(result.stderr) < 400


def test_against_a_server_stores_the_build_and_flags_a_regression(tmp_path: Path) -> None:
    env = perfbeacon_env(
        f"sqlite+aiosqlite:///{tmp_path / 'pb.db'}", PERFBEACON_ADMIN_TOKEN=ADMIN_TOKEN
    )
    write(
        tmp_path,
        "lighthouserc.json",
        {"ci": {"assert": {"assertions": {"interactive": ["warn", {"maxNumericValue": 60000}]}}}},
    )
    with serving(env=env, cwd=tmp_path) as (base_url, _):
        site = httpx.post(
            f"{base_url}/api/v1/sites",
            json={"name": "shop"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).json()

        def check(prefix: str, context: dict[str, str]) -> subprocess.CompletedProcess[str]:
            lighthouseci(tmp_path, prefix)
            ctx_env = {**env, **{f"LHCI_BUILD_CONTEXT__{k}": v for k, v in context.items()}}
            args = [
                "--lhr",
                ".lighthouseci",
                "--config",
                "lighthouserc.json",
                "--server",
                base_url,
                "--token",
                site["read_token"],
                "--format",
                "json",
            ]
            return run(tmp_path, *args, env=ctx_env)

        base = check(
            "v1-index",
            {"CURRENT_HASH": "a" * 40, "CURRENT_BRANCH": "main", "COMMIT_MESSAGE": "Fast hero"},
        )
        assert base.returncode == 0, base.stderr
        assert json.loads(base.stdout)["build"]["commitMessage"] == "Fast hero"

        slow = check(
            "v2-index",
            {"CURRENT_HASH": "b" * 40, "CURRENT_BRANCH": "feature", "ANCESTOR_HASH": "a" * 40},
        )
        assert slow.returncode == 1, slow.stderr
        report = json.loads(slow.stdout)
        assert report["baseline"]["hash"] == "a" * 40
        assert "audit:interactive" in {r["measure"] for r in report["regressions"]}

        duplicate = check("v2-index", {"CURRENT_HASH": "b" * 40, "CURRENT_BRANCH": "feature"})
        assert duplicate.returncode == 2
        assert "the server refused the check (422)" in duplicate.stderr

        wrong = run(
            tmp_path,
            "--lhr",
            ".lighthouseci",
            "--config",
            "lighthouserc.json",
            "--server",
            base_url,
            "--token",
            "pbr_wrong",
            env={
                **env,
                "LHCI_BUILD_CONTEXT__CURRENT_HASH": "c" * 40,
                "LHCI_BUILD_CONTEXT__CURRENT_BRANCH": "main",
            },
        )
        assert wrong.returncode == 2
        assert "(401)" in wrong.stderr
    assert os.path.exists(tmp_path / "pb.db")
