"""Budget checks: evaluate, store the build with its runs, compare with the baseline,
answer one verdict. Also the site's stored configuration. Knows nothing of HTTP.

Everything is validated and evaluated before the first write, and all writes happen in
one transaction, so a bad input stores nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.budgets import lhr as lhr_format
from collector.budgets.field.observe import Observation, observe
from collector.budgets.lab.build_files import files_from_document
from collector.budgets.lab.config import BudgetConfig, build_config
from collector.budgets.lab.evaluate import bounded_audits, evaluate, measure_of
from collector.budgets.lab.lab_vs_field import LabFieldRow, lab_versus_field
from collector.budgets.lab.regressions import Samples, find_regressions, samples_from_summaries
from collector.budgets.lab.schemas import CheckReport
from collector.budgets.lhci import builds
from collector.budgets.lhci.projects import project_for_site
from collector.budgets.lhci.schemas import Build, BuildContext, Project
from collector.budgets.results import AssertionResult, Evaluation, Regression
from collector.errors import Conflict, InvalidInput, NotFound
from collector.sites.schemas import Site
from collector.storage.db import committed
from collector.storage.tables import budget_builds, budget_checks, budget_configs, budget_projects

DEFAULT_CHECK_LIST_LIMIT = 50


async def check(
    *,
    conn: AsyncConnection,
    site: Site,
    context: BuildContext,
    lhrs: Sequence[object],
    documents: dict[str, Any],
    bundle_stats: object | None = None,
    now: datetime | None = None,
) -> CheckReport:
    """Check a build's LHRs, bundle files and/or the site's field data against budgets,
    and store it.

    ``documents`` holds any of ``assert``, ``lighthouserc``, ``budgets``, ``bundle_budgets``,
    ``field_budgets``; when it holds none, the site's stored configuration is used.
    """
    config = await _config_for(conn=conn, site=site, documents=documents)
    parsed = [lhr_format.validate_lhr(data, source=f"lhrs[{i}]") for i, data in enumerate(lhrs)]
    files = files_from_document(bundle_stats) if bundle_stats is not None else None
    now = now or datetime.now(UTC)
    field = await _observe_field(conn=conn, site=site, config=config, now=now)
    results = evaluate(config=config, lhrs=parsed, build_files=files, field=field)
    lab_field = await lab_versus_field(conn=conn, site=site, runs=parsed, config=config, now=now)
    try:
        async with committed(conn):
            project = await project_for_site(conn=conn, site=site)
            build = await builds.insert_build(
                conn=conn, project_id=project.id, context=context, now=now
            )
            for lhr in parsed:
                text = lhr_format.encode(lhr)
                await builds.insert_run(
                    conn=conn,
                    build=build,
                    url=lhr_format.final_url(lhr),
                    lhr=lhr,
                    lhr_text=text,
                    now=now,
                )
            await builds.seal(conn=conn, build=build, allow_empty=not parsed, now=now)
            build = build.model_copy(update={"lifecycle": "sealed"})
            baseline = await baseline_build(conn=conn, project=project, build=build)
            current = samples_from_summaries(
                [lhr_format.summarize(one) for one in parsed], bounded_audits(config)
            )
            previous = await _baseline_samples(
                conn=conn, baseline=baseline, audits=bounded_audits(config)
            )
            evaluation = Evaluation(
                results=tuple(results),
                regressions=tuple(find_regressions(current, previous)),
                urls=tuple(dict.fromkeys(lhr_format.final_url(one) for one in parsed)),
                runs=len(parsed),
            )
            report = _report(
                project=project,
                build=build,
                baseline=baseline,
                evaluation=evaluation,
                previous=previous,
                lab_field=lab_field,
            )
            await conn.execute(
                insert(budget_checks).values(
                    build_id=build.id,
                    project_id=project.id,
                    verdict=report.verdict,
                    baseline_build_id=baseline.id if baseline else None,
                    report=report.model_dump(mode="json", by_alias=True),
                    created_at=now,
                )
            )
    except IntegrityError:
        # Only a concurrent first check of the same site can clash on the new project.
        raise Conflict("another check of this site is being stored; retry") from None
    return report


async def _config_for(
    *, conn: AsyncConnection, site: Site, documents: dict[str, Any]
) -> BudgetConfig:
    given = {k: v for k, v in documents.items() if v is not None}
    if given:
        return build_config(
            assert_options=given.get("assert"),
            lighthouserc=given.get("lighthouserc"),
            budgets=given.get("budgets"),
            bundle_budgets=given.get("bundle_budgets"),
            field_budgets=given.get("field_budgets"),
        )
    stored = await get_site_config(conn=conn, site_id=site.id)
    if stored is None:
        raise InvalidInput(
            "no budget configuration given and none stored for this site: "
            "send assert/lighthouserc/budgets/bundle_budgets or PUT /api/v1/budgets/config"
        )
    return stored


async def _observe_field(
    *, conn: AsyncConnection, site: Site, config: BudgetConfig, now: datetime
) -> list[Observation] | None:
    if config.field_budgets is None:
        return None
    return await observe(conn=conn, site=site, budgets=config.field_budgets, now=now)


async def baseline_build(*, conn: AsyncConnection, project: Project, build: Build) -> Build | None:
    """The build to compare with: the ancestor commit's sealed build (base branch first),
    else the latest sealed build on the base branch before this one."""
    sealed = and_(
        budget_builds.c.project_id == project.id,
        budget_builds.c.lifecycle == "sealed",
        budget_builds.c.id != build.id,
    )
    if build.ancestor_hash:
        query = (
            select(budget_builds.c.id)
            .where(sealed, budget_builds.c.hash == build.ancestor_hash)
            .order_by(
                (budget_builds.c.branch == project.base_branch).desc(),
                budget_builds.c.run_at.desc(),
            )
            .limit(1)
        )
        row = (await conn.execute(query)).first()
        if row is not None:
            return await builds.get_build(conn=conn, project_id=project.id, build_id=row.id)
    query = (
        select(budget_builds.c.id)
        .where(
            sealed,
            budget_builds.c.branch == project.base_branch,
            budget_builds.c.run_at <= build.run_at,
        )
        .order_by(budget_builds.c.run_at.desc())
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return await builds.get_build(conn=conn, project_id=project.id, build_id=row.id)


async def _baseline_samples(
    *, conn: AsyncConnection, baseline: Build | None, audits: list[str]
) -> Samples:
    if baseline is None:
        return {}
    runs = await builds.run_summaries(conn=conn, build_id=baseline.id)
    return samples_from_summaries([run["summary"] for run in runs], audits)


def _report(
    *,
    project: Project,
    build: Build,
    baseline: Build | None,
    evaluation: Evaluation,
    previous: Samples,
    lab_field: Sequence[LabFieldRow],
) -> CheckReport:
    flagged = {(r.url, r.measure): r for r in evaluation.regressions}
    return CheckReport(
        verdict=evaluation.verdict.value,
        project_id=project.id,
        build=build,
        baseline=baseline,
        urls=list(evaluation.urls),
        runs=evaluation.runs,
        results=[_with_baseline(r, previous, flagged) for r in evaluation.results],
        regressions=[r.to_json() for r in evaluation.regressions],
        lab_vs_field=[row.to_json() for row in lab_field],
    )


def _with_baseline(
    result: AssertionResult, previous: Samples, flagged: dict[tuple[str, str], Regression]
) -> dict[str, Any]:
    out = result.to_json()
    measure = measure_of(result)
    values = previous.get(result.url, {}).get(measure, []) if measure else []
    regression = flagged.get((result.url, measure)) if measure else None
    if regression is not None:
        out.update(baseline=regression.baseline, change=regression.change, regression=True)
    elif values:
        ordered = sorted(values)
        base = (
            ordered[len(ordered) // 2]
            if len(ordered) % 2
            else sum(ordered[len(ordered) // 2 - 1 : len(ordered) // 2 + 1]) / 2
        )
        change = result.actual - base if out["actual"] is not None else None
        out.update(baseline=base, change=change, regression=False)
    else:
        out.update(baseline=None, change=None, regression=False)
    return out


async def get_check(*, conn: AsyncConnection, site_id: int, build_id: str) -> CheckReport:
    """The stored report of one of the site's checked builds, or NotFound."""
    query = (
        select(budget_checks.c.report)
        .join(budget_projects, budget_projects.c.id == budget_checks.c.project_id)
        .where(budget_projects.c.site_id == site_id, budget_checks.c.build_id == build_id)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"this site has no budget check for build {build_id[:60]!r}")
    return CheckReport.model_validate(row.report)


async def list_checks(
    *, conn: AsyncConnection, site_id: int, limit: int = DEFAULT_CHECK_LIST_LIMIT
) -> list[CheckReport]:
    """A site's budget checks, newest first (for the dashboard's budgets view)."""
    query = (
        select(budget_checks.c.report)
        .join(budget_projects, budget_projects.c.id == budget_checks.c.project_id)
        .where(budget_projects.c.site_id == site_id)
        .order_by(budget_checks.c.created_at.desc())
        .limit(limit)
    )
    return [CheckReport.model_validate(row.report) for row in await conn.execute(query)]


async def set_site_config(*, conn: AsyncConnection, site_id: int, config: BudgetConfig) -> None:
    """Store (replace) a site's budget configuration and commit."""
    now = datetime.now(UTC)
    async with committed(conn):
        existing = await conn.execute(
            select(budget_configs.c.site_id).where(budget_configs.c.site_id == site_id)
        )
        if existing.first() is None:
            await conn.execute(
                insert(budget_configs).values(
                    site_id=site_id, config=config.to_json(), updated_at=now
                )
            )
        else:
            await conn.execute(
                budget_configs.update()
                .where(budget_configs.c.site_id == site_id)
                .values(config=config.to_json(), updated_at=now)
            )


async def get_site_config(*, conn: AsyncConnection, site_id: int) -> BudgetConfig | None:
    """A site's stored budget configuration, if any."""
    row = (
        await conn.execute(
            select(budget_configs.c.config).where(budget_configs.c.site_id == site_id)
        )
    ).first()
    return BudgetConfig.from_json(row.config) if row is not None else None


async def require_site_config(*, conn: AsyncConnection, site_id: int) -> BudgetConfig:
    """A site's stored budget configuration, or NotFound."""
    config = await get_site_config(conn=conn, site_id=site_id)
    if config is None:
        raise NotFound("no budget configuration is stored for this site")
    return config
