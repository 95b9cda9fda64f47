"""Reading budget configuration files: lighthouserc.js/.cjs/.json/.yml, budget.json,
Angular-style bundle budgets, and build stats. Used by the CLI; the service takes the
parsed documents.

A ``.js`` lighthouserc is evaluated by ``node`` when it is installed (as Lighthouse CI
does); without node only the common literal form ``module.exports = {...};`` is read,
as JSON5, without running anything.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import json5
import yaml

from collector.errors import InvalidInput

NODE_TIMEOUT_SECONDS = 30
# The parsers recurse once per level and raise RecursionError past Python's limit.
TOO_DEEP = "nested too deeply to read"
_EXPORTS = re.compile(r"module\.exports\s*=\s*", re.MULTILINE)
_NODE_PRINT = (
    "process.stdout.write(JSON.stringify(require(require('path').resolve(process.argv[1]))))"
)


def read_document(path: Path) -> Any:
    """The parsed content of a JSON, YAML or JavaScript config file."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".js", ".cjs"):
        return _read_javascript(path)
    text = path.read_text(encoding="utf-8")
    if suffix in (".yml", ".yaml"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{path}: not valid YAML ({_one_line(exc)})") from None
        except RecursionError:
            raise InvalidInput(f"{path}: {TOO_DEEP}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InvalidInput(f"{path}: {TOO_DEEP}") from None


def _read_javascript(path: Path) -> Any:
    node = shutil.which("node")
    if node is not None:
        return _run_node(node, path)
    return parse_literal_exports(path.read_text(encoding="utf-8"), source=str(path))


def _run_node(node: str, path: Path) -> Any:
    try:
        done = subprocess.run(  # noqa: S603 - the user's own config, run as LHCI runs it
            [node, "-e", _NODE_PRINT, str(path)],
            capture_output=True,
            text=True,
            timeout=NODE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InvalidInput(f"{path}: node did not finish within {NODE_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        raise InvalidInput(f"{path}: node could not load it: {_last_error_line(done.stderr)}")
    try:
        return json.loads(done.stdout or "null")
    except json.JSONDecodeError:
        raise InvalidInput(f"{path}: module.exports is not JSON-serialisable") from None
    except RecursionError:
        raise InvalidInput(f"{path}: {TOO_DEEP}") from None


def parse_literal_exports(text: str, *, source: str) -> Any:
    """Read ``module.exports = {...}`` written as a plain literal (JSON5), without node."""
    match = _EXPORTS.search(text)
    if match is None:
        raise InvalidInput(
            f"{source}: node is not installed and the file has no 'module.exports = {{...}}'; "
            "install node or use lighthouserc.json"
        )
    literal = text[match.end() :].strip().rstrip(";").strip()
    try:
        return json5.loads(literal)
    except ValueError as exc:
        raise InvalidInput(
            f"{source}: node is not installed and module.exports is not a plain literal "
            f"({_one_line(exc)}); install node or use lighthouserc.json"
        ) from None
    except RecursionError:
        raise InvalidInput(f"{source}: {TOO_DEEP}") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line]
    return (errors or lines or ["unknown error"])[0][:300]


def classify(document: Any, *, source: str) -> str:
    """What a config document is: ``lighthouserc``, ``budgets``, ``bundle_budgets`` or
    ``field_budgets``."""
    if isinstance(document, list):
        return "budgets"
    if isinstance(document, dict) and ("ci" in document or "lhci" in document):
        return "lighthouserc"
    if isinstance(document, dict) and isinstance(document.get("budgets"), list):
        return "bundle_budgets"
    if isinstance(document, dict) and "fieldBudgets" in document:
        return "field_budgets"
    raise InvalidInput(
        f"{source}: not a lighthouserc (ci.assert), a budget.json (array), "
        'bundle budgets ({"budgets": [...]}) or field budgets ({"fieldBudgets": [...]})'
    )
