"""`pip install .` brings everything the service imports, not only the test extras."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_PACKAGES = ("collector", "dashboard")


def runtime_requirements() -> list[str]:
    """``[project].dependencies`` of pyproject.toml: what a plain install asks for."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


def installed_with(requirements: list[str]) -> set[str]:
    """The distributions those requirements bring, theirs included, with the extras named."""
    pending = [Requirement(text) for text in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement = pending.pop()
        name, extras = canonicalize_name(requirement.name), frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for text in importlib.metadata.requires(name) or []:
            needed = Requirement(text)
            if needed.marker is None or any(
                needed.marker.evaluate({"extra": extra}) for extra in extras | {""}
            ):
                pending.append(needed)
    return {name for name, _ in seen}


def imported_modules() -> Iterator[tuple[str, Path]]:
    """Each third-party top-level module the shipped code imports, with a file importing it."""
    own = {*SHIPPED_PACKAGES, "__future__"}
    for package in SHIPPED_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    if top not in own and top not in sys.stdlib_module_names:
                        yield top, path


def test_every_module_the_service_imports_is_installed_by_its_runtime_requirements() -> None:
    installed = installed_with(runtime_requirements())
    providers = importlib.metadata.packages_distributions()
    missing = {
        f"{module} (imported by {path.relative_to(ROOT)})"
        for module, path in imported_modules()
        if not {canonicalize_name(dist) for dist in providers.get(module, [])} & installed
    }
    assert not missing, f"not brought by [project].dependencies: {sorted(missing)}"


def test_the_check_sees_the_requirements_and_the_imports() -> None:
    # Guards the test above against passing on empty sets.
    installed = installed_with(runtime_requirements())
    assert {"fastapi", "starlette", "sqlalchemy", "httptools"} <= installed
    assert "pytest" not in installed
    assert {"fastapi", "sqlalchemy", "numpy"} <= {module for module, _ in imported_modules()}
