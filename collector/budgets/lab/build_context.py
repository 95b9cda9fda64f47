"""The build context of a CI run: ``LHCI_BUILD_CONTEXT__*`` first (Lighthouse CI's
convention), then git, as ``lhci upload`` determines it."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from collector.budgets.lhci.schemas import BuildContext
from collector.config import BuildContextSettings
from collector.errors import InvalidInput

ZERO_HASH = "0" * 40
ENV_PREFIX = "LHCI_BUILD_CONTEXT__"
# BuildContext field -> (BuildContextSettings field, the variable's name after the prefix).
_SOURCES = {
    "hash": ("current_hash", "CURRENT_HASH"),
    "branch": ("current_branch", "CURRENT_BRANCH"),
    "ancestor_hash": ("ancestor_hash", "ANCESTOR_HASH"),
    "commit_message": ("commit_message", "COMMIT_MESSAGE"),
    "author": ("author", "AUTHOR"),
    "avatar_url": ("avatar_url", "AVATAR_URL"),
    "external_build_url": ("external_build_url", "EXTERNAL_BUILD_URL"),
    "committed_at": ("commit_time", "COMMIT_TIME"),
    "ancestor_committed_at": ("ancestor_commit_time", "ANCESTOR_COMMIT_TIME"),
}


def _git(cwd: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    done = subprocess.run(  # noqa: S603 - fixed git arguments
        [git, *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    return done.stdout.strip() or None if done.returncode == 0 else None


def _time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{ENV_PREFIX}{name}: {value!r} is not an ISO 8601 time") from None


def _ancestor(cwd: Path, hash: str, branch: str, base_branch: str) -> str | None:
    if branch == base_branch:
        return _git(cwd, "rev-parse", f"{hash}^")
    return _git(cwd, "merge-base", hash, f"origin/{base_branch}") or _git(
        cwd, "merge-base", hash, base_branch
    )


def resolve_build_context(
    *, env: BuildContextSettings, cwd: Path, base_branch: str
) -> BuildContext:
    """The build context from the variables, completed from the git checkout at ``cwd``."""
    hash = env.current_hash or _git(cwd, "rev-parse", "HEAD")
    if not hash:
        raise InvalidInput(
            "cannot tell which commit this is: run inside a git checkout "
            "or set LHCI_BUILD_CONTEXT__CURRENT_HASH"
        )
    branch = env.current_branch or _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    if not branch or branch == "HEAD":
        raise InvalidInput(
            "cannot tell the branch (detached HEAD): set LHCI_BUILD_CONTEXT__CURRENT_BRANCH"
        )
    ancestor = env.ancestor_hash if env.ancestor_hash != ZERO_HASH else None
    ancestor = ancestor or _ancestor(cwd, hash, branch, base_branch)
    try:
        return BuildContext(
            hash=hash,
            branch=branch,
            ancestor_hash=ancestor,
            commit_message=env.commit_message or _git(cwd, "log", "--format=%s", "-n", "1", hash),
            author=env.author or _git(cwd, "log", "--format=%aN <%aE>", "-n", "1", hash),
            avatar_url=env.avatar_url,
            external_build_url=env.external_build_url,
            committed_at=_time(
                env.commit_time or _git(cwd, "log", "--format=%cI", "-n", "1", hash),
                "COMMIT_TIME",
            ),
            ancestor_committed_at=_time(env.ancestor_commit_time, "ANCESTOR_COMMIT_TIME"),
        )
    except ValidationError as exc:
        raise InvalidInput(_describe(exc, env)) from None


def _describe(exc: ValidationError, env: BuildContextSettings) -> str:
    """The first problem, naming the variable that gives the value (or that overrides git)."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    if field not in _SOURCES:
        return f"bad build context: {message}"
    setting, variable = _SOURCES[field]
    if not getattr(env, setting):
        return f"the {field} git gives: {message}; set {ENV_PREFIX}{variable} instead"
    return f"{ENV_PREFIX}{variable}: {message}"
