"""``perfbeacon budget check``: evaluate budgets offline, or send the build to a server.

Exit codes: 0 the budgets pass (warnings allowed), 1 a budget failed or a regression was
flagged, 2 a usage or input error (bad config, missing files, malformed LHR).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer

from collector.budgets import lhr as lhr_format
from collector.budgets.field.config import field_budgets_of_rc
from collector.budgets.lab import report as report_format
from collector.budgets.lab.build_context import resolve_build_context
from collector.budgets.lab.build_files import files_from_directory, files_from_document
from collector.budgets.lab.config import build_config, rc_assert_options
from collector.budgets.lab.config_files import classify, read_document
from collector.budgets.lab.evaluate import evaluate
from collector.budgets.results import Evaluation, Verdict
from collector.config import load_build_context_settings
from collector.errors import InvalidInput

EXIT_FAILED = 1
EXIT_USAGE = 2
SERVER_TIMEOUT_SECONDS = 120
# How much of an answer that is not perfbeacon's JSON (an HTML error page, say) to show.
BODY_EXCERPT_CHARS = 200
_LHR_FILE = re.compile(r"^lhr-.*\.json$")

budget_cli = typer.Typer(help="Check performance budgets in CI.", no_args_is_help=True)


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    print(f"perfbeacon: {message}", file=sys.stderr)
    raise typer.Exit(code)


def read_lhrs(path: Path) -> list[lhr_format.LHR]:
    """LHRs from a file, or from a directory's ``lhr-*.json`` files (``.lighthouseci/``)."""
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if _LHR_FILE.match(p.name))
        if not files:
            raise InvalidInput(f"{path}: no lhr-*.json files (run lhci collect first)")
    else:
        raise InvalidInput(f"{path}: no such file or directory")
    return [lhr_format.parse_lhr_text(p.read_bytes(), source=str(p)) for p in files]


def read_documents(paths: list[Path]) -> dict[str, Any]:
    """Config files sorted by kind: ``lighthouserc``, ``budgets``, ``bundle_budgets``,
    ``field_budgets``."""
    documents: dict[str, Any] = {}
    for path in paths:
        document = read_document(path)
        kind = classify(document, source=str(path))
        if kind == "field_budgets":
            document = _field_budgets_document(document, path)
        if kind in documents:
            raise InvalidInput(f"{path}: a second {kind} document; give one of each kind")
        if kind == "lighthouserc":
            document, budgets_file = _split_budgets_file(document, path)
            if budgets_file is not None:
                documents["budgets"] = read_document(budgets_file)
        documents[kind] = document
    return documents


def _field_budgets_document(document: dict[str, Any], path: Path) -> Any:
    unknown = sorted(str(key)[:40] for key in document if key != "fieldBudgets")
    if unknown:
        raise InvalidInput(
            f"{path}: unknown option(s) {', '.join(unknown)}; a field budget file holds "
            'only {"fieldBudgets": [...]}'
        )
    return document["fieldBudgets"]


def has_field_budgets(documents: dict[str, Any]) -> bool:
    """True when the documents hold field budgets (a file of them, or in a lighthouserc)."""
    return "field_budgets" in documents or (
        field_budgets_of_rc(documents.get("lighthouserc")) is not None
    )


def _split_budgets_file(rc: dict[str, Any], path: Path) -> tuple[dict[str, Any], Path | None]:
    """Take ``ci.assert.budgetsFile`` out of a lighthouserc, resolved as LHCI resolves it
    (from the working directory), or next to the config file."""
    options = rc_assert_options(rc, where=str(path))
    if not isinstance(options, dict) or "budgetsFile" not in options:
        return rc, None
    name = Path(str(options["budgetsFile"]))
    candidate = name if name.is_absolute() or name.exists() else path.parent / name
    remaining = {k: v for k, v in options.items() if k != "budgetsFile"}
    section = "ci" if "ci" in rc else "lhci"
    return {**rc, section: {**rc[section], "assert": remaining}}, candidate


def _bundle_files(path: Path | None) -> Any:
    if path is None:
        return None
    if path.is_dir():
        return {"files": [{"name": f.name, "size": f.size} for f in files_from_directory(path)]}
    return read_document(path)


@budget_cli.command("check")
def check(
    lhr: Annotated[
        Path | None,
        typer.Option("--lhr", help="A directory of lhr-*.json (.lighthouseci) or one LHR."),
    ] = None,
    config: Annotated[
        list[Path] | None,
        typer.Option(
            "--config",
            help="lighthouserc.js/.json/.yml, budget.json or bundle budgets (repeatable).",
        ),
    ] = None,
    bundle_stats: Annotated[
        Path | None,
        typer.Option(
            "--bundle-stats", help="webpack stats, esbuild metafile, manifest or a dist directory."
        ),
    ] = None,
    server: Annotated[
        str | None, typer.Option("--server", help="perfbeacon base URL: store and compare there.")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="The site's read token (with --server).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, json, markdown or junit.")] = "text",
    base_branch: Annotated[
        str, typer.Option("--base-branch", help="Branch baselines come from.")
    ] = "main",
) -> None:
    """Check budgets; exit 0 pass, 1 failed or regressed, 2 bad input."""
    if fmt not in report_format.FORMATS:
        _fail(f"--format must be one of {', '.join(report_format.FORMATS)}")
    if (server is None) != (token is None):
        _fail("--server and --token go together")
    if server is not None and token is not None:
        server = _server_url(server)
        _check_token(token)
    try:
        documents = read_documents(config or [])
        if not documents and server is None:
            raise InvalidInput("give --config (offline checks need a budget configuration)")
        if server is None and has_field_budgets(documents):
            raise InvalidInput(
                "field budgets are checked against the site's RUM data on a perfbeacon "
                "server: add --server URL --token T"
            )
        lhrs = read_lhrs(lhr) if lhr is not None else []
        stats = _bundle_files(bundle_stats)
        if server is not None and token is not None:
            report = _check_on_server(server, token, documents, lhrs, stats, base_branch)
        else:
            report = _check_offline(documents, lhrs, stats)
    except InvalidInput as exc:
        _fail(exc.message)
    print(report_format.render(report, fmt))
    if report["verdict"] == "fail":
        raise typer.Exit(EXIT_FAILED)


def _server_url(server: str) -> str:
    """``--server`` as a base URL, or exit 2 saying what is wrong with it."""
    try:
        url = httpx.URL(server)
    except httpx.InvalidURL as exc:
        _fail(f"--server {server[:200]!r} is not a URL: {exc}")
    if url.scheme not in ("http", "https") or not url.host:
        _fail(f"--server {server[:200]!r}: give the base URL, e.g. https://perfbeacon.example")
    return server


def _check_token(token: str) -> None:
    # HTTP headers carry ASCII only; anything else cannot be a perfbeacon token anyway.
    if not token.isascii() or not token.isprintable() or not token.strip():
        _fail("--token: a read token is printable ASCII, as printed by perfbeacon site create")


def _check_offline(
    documents: dict[str, Any], lhrs: list[lhr_format.LHR], stats: Any
) -> dict[str, Any]:
    config = build_config(
        lighthouserc=documents.get("lighthouserc"),
        budgets=documents.get("budgets"),
        bundle_budgets=documents.get("bundle_budgets"),
    )
    files = files_from_document(stats) if stats is not None else None
    results = evaluate(config=config, lhrs=lhrs, build_files=files)
    evaluation = Evaluation(
        results=tuple(results),
        urls=tuple(dict.fromkeys(lhr_format.final_url(one) for one in lhrs)),
        runs=len(lhrs),
    )
    return {
        "verdict": evaluation.verdict.value,
        "build": None,
        "baseline": None,
        "urls": list(evaluation.urls),
        "runs": evaluation.runs,
        "results": [r.to_json() for r in evaluation.results],
        "regressions": [],
    }


def _check_on_server(
    server: str,
    token: str,
    documents: dict[str, Any],
    lhrs: list[lhr_format.LHR],
    stats: Any,
    base_branch: str,
) -> dict[str, Any]:
    context = resolve_build_context(
        env=load_build_context_settings(), cwd=Path.cwd(), base_branch=base_branch
    )
    body = {
        "build": context.model_dump(mode="json", exclude_none=True),
        "lhrs": lhrs,
        "lighthouserc": documents.get("lighthouserc"),
        "budgets": documents.get("budgets"),
        "bundle_budgets": documents.get("bundle_budgets"),
        "field_budgets": documents.get("field_budgets"),
        "bundle_stats": stats,
    }
    url = f"{server.rstrip('/')}/api/v1/budgets/check"
    try:
        response = httpx.post(
            url,
            json={k: v for k, v in body.items() if v is not None},
            headers={"Authorization": f"Bearer {token}"},
            timeout=SERVER_TIMEOUT_SECONDS,
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        _fail(f"cannot reach {url}: {exc}")
    if response.status_code >= 400:
        _fail(f"the server refused the check ({response.status_code}): {_error_message(response)}")
    try:
        report = response.json()
    except ValueError:
        report = None
    if not isinstance(report, dict) or report.get("verdict") not in set(Verdict):
        _fail(
            f"{url} did not answer a budget check ({response.status_code}): "
            f"{_excerpt(response)}; is --server perfbeacon's base URL?"
        )
    return report


def _error_message(response: httpx.Response) -> str:
    try:
        return _one_line(str(response.json()["error"]["message"]))
    except (ValueError, KeyError, TypeError):
        return _excerpt(response)


def _excerpt(response: httpx.Response) -> str:
    """The start of an answer's body on one line, with its content type."""
    text = _one_line(response.text)
    if not text:
        return "an empty answer"
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "..."
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    return f"{kind}: {text}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
