"""Builds, runs and statistics of Lighthouse CI projects, with LHCI's rules: one build per
project + branch + hash, runs only on unsealed builds, sealing computes statistics and
picks the representative runs in one transaction. Knows nothing of HTTP.

``insert_*`` and ``seal`` write without committing, so a budget check can store a whole
build atomically; ``create_build``, ``add_run`` and ``seal_build`` commit.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.budgets import lhr as lhr_format
from collector.budgets.lhci.schemas import Build, BuildContext, Project, Run, Statistic
from collector.budgets.lhci.statistics import STATISTIC_VERSION, compute_statistics
from collector.budgets.lhr import representative_runs
from collector.errors import NotFound, Unprocessable
from collector.storage.db import committed
from collector.storage.tables import (
    budget_builds,
    budget_lhrs,
    budget_runs,
    budget_statistics,
)

DEFAULT_BUILD_LIMIT = 10
MAX_BUILD_LIMIT = 1000


async def insert_build(
    *, conn: AsyncConnection, project_id: str, context: BuildContext, now: datetime | None = None
) -> Build:
    """Add an unsealed build; Unprocessable (422) if the project has one for this branch + hash."""
    now = now or datetime.now(UTC)
    duplicate = await conn.execute(
        select(budget_builds.c.id).where(
            budget_builds.c.project_id == project_id,
            budget_builds.c.branch == context.branch,
            budget_builds.c.hash == context.hash,
        )
    )
    if duplicate.first() is not None:
        raise _duplicate(context)
    values: dict[str, Any] = {
        **context.model_dump(by_alias=False),
        "id": str(uuid.uuid4()),
        "project_id": project_id,
        "lifecycle": "unsealed",
        "run_at": context.run_at or now,
        "created_at": now,
        "updated_at": now,
    }
    try:
        await conn.execute(insert(budget_builds).values(**values))
    except IntegrityError:
        raise _duplicate(context) from None
    return Build(**values)


def _duplicate(context: BuildContext) -> Unprocessable:
    return Unprocessable(
        f'Build already exists for hash "{context.hash}" on branch "{context.branch}"',
        details={"hash": context.hash, "branch": context.branch},
    )


async def create_build(
    *, conn: AsyncConnection, project_id: str, context: BuildContext, lifecycle: str = "unsealed"
) -> Build:
    """``POST /v1/projects/:id/builds``: add an unsealed build and commit."""
    if lifecycle != "unsealed":
        raise Unprocessable("Invalid lifecycle value: a new build must be 'unsealed'")
    async with committed(conn):
        build = await insert_build(conn=conn, project_id=project_id, context=context)
    return build


async def get_build(*, conn: AsyncConnection, project_id: str, build_id: str) -> Build:
    """The build with this id in this project, or NotFound."""
    row = (
        await conn.execute(
            select(budget_builds).where(
                budget_builds.c.id == build_id, budget_builds.c.project_id == project_id
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"no build {build_id[:60]!r} in project {project_id[:60]!r}")
    return _to_build(row)


async def list_builds(
    *,
    conn: AsyncConnection,
    project_id: str,
    branch: str | None = None,
    hash: str | None = None,
    lifecycle: str | None = None,
    limit: int = DEFAULT_BUILD_LIMIT,
) -> list[Build]:
    """A project's builds, newest first, optionally filtered as LHCI filters them."""
    query = select(budget_builds).where(budget_builds.c.project_id == project_id)
    for column, value in (("branch", branch), ("hash", hash), ("lifecycle", lifecycle)):
        if value is not None:
            query = query.where(budget_builds.c[column] == value)
    query = query.order_by(budget_builds.c.created_at.desc(), budget_builds.c.id).limit(
        max(1, min(limit, MAX_BUILD_LIMIT))
    )
    return [_to_build(row) for row in await conn.execute(query)]


async def list_branches(*, conn: AsyncConnection, project_id: str) -> list[str]:
    """The branches a project has builds on."""
    query = (
        select(budget_builds.c.branch)
        .where(budget_builds.c.project_id == project_id)
        .group_by(budget_builds.c.branch)
        .order_by(budget_builds.c.branch.desc())
    )
    return [row.branch for row in await conn.execute(query)]


async def ancestor_build(*, conn: AsyncConnection, project: Project, build: Build) -> Build | None:
    """LHCI's base build: the ancestor hash on the base branch, else the nearest base-branch
    build in time (only earlier ones when the build is itself on the base branch)."""
    base = and_(
        budget_builds.c.project_id == project.id,
        budget_builds.c.branch == project.base_branch,
        budget_builds.c.id != build.id,
    )
    if build.ancestor_hash:
        by_hash = await conn.execute(
            select(budget_builds).where(base, budget_builds.c.hash == build.ancestor_hash).limit(1)
        )
        row = by_hash.first()
        if row is not None:
            return _to_build(row)
    before = (
        await conn.execute(
            select(budget_builds)
            .where(base, budget_builds.c.run_at <= build.run_at)
            .order_by(budget_builds.c.run_at.desc())
            .limit(1)
        )
    ).first()
    if build.branch == project.base_branch:
        return _to_build(before) if before is not None else None
    after = (
        await conn.execute(
            select(budget_builds)
            .where(base, budget_builds.c.run_at >= build.run_at)
            .order_by(budget_builds.c.run_at)
            .limit(1)
        )
    ).first()
    candidates = [_to_build(row) for row in (before, after) if row is not None]
    candidates.sort(key=lambda b: abs((b.run_at - build.run_at).total_seconds()))
    return candidates[0] if candidates else None


async def insert_run(
    *,
    conn: AsyncConnection,
    build: Build,
    url: str,
    lhr: lhr_format.LHR,
    lhr_text: str,
    now: datetime | None = None,
) -> Run:
    """Store one run of an unsealed build: its summary hot, its full LHR compressed."""
    if build.lifecycle != "unsealed":
        raise Unprocessable("Invalid build: runs can only be added to an unsealed build")
    now = now or datetime.now(UTC)
    run_id = str(uuid.uuid4())
    await conn.execute(
        insert(budget_runs).values(
            id=run_id,
            project_id=build.project_id,
            build_id=build.id,
            url=url,
            representative=False,
            summary=lhr_format.summarize(lhr),
            lhr_bytes=len(lhr_text.encode()),
            created_at=now,
        )
    )
    await conn.execute(
        insert(budget_lhrs).values(
            run_id=run_id, lhr_gzip=lhr_format.compress(lhr_text), created_at=now
        )
    )
    return Run(
        id=run_id,
        project_id=build.project_id,
        build_id=build.id,
        url=url,
        representative=False,
        lhr=lhr_text,
        created_at=now,
        updated_at=now,
    )


async def add_run(
    *, conn: AsyncConnection, project_id: str, build_id: str, url: str, lhr_text: str
) -> Run:
    """``POST .../runs``: validate the LHR, store the run, commit."""
    lhr = lhr_format.parse_lhr_text(lhr_text, source="lhr")
    async with committed(conn):
        build = await get_build(conn=conn, project_id=project_id, build_id=build_id)
        run = await insert_run(conn=conn, build=build, url=url, lhr=lhr, lhr_text=lhr_text)
    return run


async def run_summaries(*, conn: AsyncConnection, build_id: str) -> list[dict[str, Any]]:
    """The hot summaries of a build's runs, in upload order, each with its run id and url."""
    query = (
        select(budget_runs.c.id, budget_runs.c.url, budget_runs.c.summary)
        .where(budget_runs.c.build_id == build_id)
        .order_by(budget_runs.c.created_at, budget_runs.c.id)
    )
    return [{"id": r.id, "url": r.url, "summary": r.summary} for r in await conn.execute(query)]


async def seal(
    *, conn: AsyncConnection, build: Build, allow_empty: bool = False, now: datetime | None = None
) -> None:
    """Mark a build sealed, store its statistics per URL and flag its representative runs.

    Runs inside the caller's transaction, so all of it is stored or none. Only a budget
    check of bundle sizes alone seals a build without runs (``allow_empty``).
    """
    now = now or datetime.now(UTC)
    runs = await run_summaries(conn=conn, build_id=build.id)
    if not runs and not allow_empty:
        raise Unprocessable("Invalid build: a build needs at least one run to be sealed")
    await conn.execute(
        update(budget_builds)
        .where(budget_builds.c.id == build.id)
        .values(lifecycle="sealed", updated_at=now)
    )
    by_url: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_url.setdefault(run["url"], []).append(run)
    await conn.execute(delete(budget_statistics).where(budget_statistics.c.build_id == build.id))
    rows = [
        {
            "id": str(uuid.uuid4()),
            "project_id": build.project_id,
            "build_id": build.id,
            "url": url,
            "version": STATISTIC_VERSION,
            "name": name,
            "value": value,
            "created_at": now,
        }
        for url, url_runs in by_url.items()
        for name, value in compute_statistics([r["summary"] for r in url_runs]).items()
    ]
    if rows:
        await conn.execute(insert(budget_statistics), rows)
    chosen = representative_runs(
        [[(r["id"], r["summary"]) for r in url_runs] for url_runs in by_url.values()]
    )
    await conn.execute(
        update(budget_runs).where(budget_runs.c.id.in_(chosen)).values(representative=True)
    )


async def seal_build(*, conn: AsyncConnection, project_id: str, build_id: str) -> None:
    """``PUT .../lifecycle "sealed"``: seal in one transaction and commit."""
    async with committed(conn):
        build = await get_build(conn=conn, project_id=project_id, build_id=build_id)
        if build.lifecycle == "sealed":
            raise Unprocessable("Invalid build: it is already sealed")
        await seal(conn=conn, build=build)


async def list_runs(
    *,
    conn: AsyncConnection,
    project_id: str,
    build_id: str,
    representative: bool | None = None,
    url: str | None = None,
) -> list[Run]:
    """A build's runs, in upload order, each with its full LHR while it is retained."""
    query = (
        select(budget_runs, budget_lhrs.c.lhr_gzip)
        .outerjoin(budget_lhrs, budget_lhrs.c.run_id == budget_runs.c.id)
        .where(budget_runs.c.project_id == project_id, budget_runs.c.build_id == build_id)
        .order_by(budget_runs.c.created_at, budget_runs.c.id)
    )
    if representative is not None:
        query = query.where(budget_runs.c.representative == representative)
    if url is not None:
        query = query.where(budget_runs.c.url == url)
    return [
        Run(
            id=row.id,
            project_id=row.project_id,
            build_id=row.build_id,
            url=row.url,
            representative=row.representative,
            lhr=lhr_format.decompress(row.lhr_gzip)
            if row.lhr_gzip is not None
            else lhr_format.encode(row.summary),
            created_at=row.created_at,
            updated_at=row.created_at,
        )
        for row in await conn.execute(query)
    ]


async def list_urls(
    *, conn: AsyncConnection, project_id: str, build_id: str | None = None
) -> list[str]:
    """The URLs a project (or one of its builds) has runs for."""
    query = select(budget_runs.c.url).where(budget_runs.c.project_id == project_id)
    if build_id is not None:
        query = query.where(budget_runs.c.build_id == build_id)
    query = query.group_by(budget_runs.c.url).order_by(budget_runs.c.url.desc())
    return [row.url for row in await conn.execute(query)]


async def list_statistics(
    *, conn: AsyncConnection, project_id: str, build_id: str
) -> list[Statistic]:
    """A sealed build's statistics (none while it is unsealed)."""
    await get_build(conn=conn, project_id=project_id, build_id=build_id)
    query = (
        select(budget_statistics)
        .where(
            budget_statistics.c.project_id == project_id, budget_statistics.c.build_id == build_id
        )
        .order_by(budget_statistics.c.url, budget_statistics.c.name)
    )
    return [
        Statistic(
            id=row.id,
            project_id=row.project_id,
            build_id=row.build_id,
            url=row.url,
            version=row.version,
            name=row.name,
            value=row.value,
            created_at=row.created_at,
            updated_at=row.created_at,
        )
        for row in await conn.execute(query)
    ]


def _to_build(row: Row[tuple[object, ...]]) -> Build:
    return Build(
        id=row.id,
        project_id=row.project_id,
        lifecycle=row.lifecycle,
        hash=row.hash,
        branch=row.branch,
        ancestor_hash=row.ancestor_hash,
        commit_message=row.commit_message,
        author=row.author,
        avatar_url=row.avatar_url,
        external_build_url=row.external_build_url,
        run_at=row.run_at,
        committed_at=row.committed_at,
        ancestor_committed_at=row.ancestor_committed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
