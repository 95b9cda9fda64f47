"""The Lighthouse CI server REST API subset ``lhci upload --target=lhci`` uses, plus project
creation (admin token) and the read routes, under ``/v1``. Thin: parse, call, answer."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response, status
from fastapi.responses import RedirectResponse

from collector.budgets.lhci import builds, projects
from collector.budgets.lhci.schemas import (
    BranchEntry,
    Build,
    BuildCreate,
    Project,
    ProjectCreate,
    Run,
    RunCreate,
    Statistic,
    TokenLookup,
    UrlEntry,
)
from collector.deps import Conn, LhciBuildToken
from collector.errors import NotFound, Unprocessable
from collector.sites import service as sites_service
from collector.sites.deps import AdminOnly, IsAdmin

router = APIRouter(prefix="/v1", tags=["lighthouse-ci"])
# The pages of the Lighthouse CI server's own app, linked from what ``lhci upload`` prints.
app_links = APIRouter(prefix="/app", include_in_schema=False)


@router.get("/projects")
async def list_projects(_admin: AdminOnly, conn: Conn) -> list[Project]:
    """Every project, without tokens (admin token)."""
    return await projects.list_projects(conn=conn)


@router.post("/projects", status_code=status.HTTP_201_CREATED)
async def create_project(_admin: AdminOnly, body: ProjectCreate, conn: Conn) -> Project:
    """Create a project; the answer holds its build token, shown this once (admin token)."""
    site_id = None
    if body.site_key is not None:
        site_id = (await sites_service.get_site(conn=conn, key=body.site_key)).id
    return await projects.create_project(
        conn=conn,
        name=body.name,
        external_url=body.external_url,
        slug=body.slug,
        base_branch=body.base_branch,
        site_id=site_id,
    )


@router.post("/projects/lookup")
async def lookup_project(body: TokenLookup, conn: Conn) -> Project:
    """The project a build token belongs to (how ``lhci upload`` starts)."""
    return await projects.find_project_by_token(conn=conn, token=body.token)


@router.get("/projects/slug:{slug}")
async def project_by_slug(slug: str, conn: Conn, token: LhciBuildToken, admin: IsAdmin) -> Project:
    """A project by its slug."""
    project = await projects.get_project_by_slug(conn=conn, slug=slug)
    return await projects.authorize_read(
        conn=conn, project_id=project.id, build_token=token, is_admin=admin
    )


@router.get("/projects/{project_id}")
async def get_project(
    project_id: str, conn: Conn, token: LhciBuildToken, admin: IsAdmin
) -> Project:
    """A project by id."""
    return await projects.authorize_read(
        conn=conn, project_id=project_id, build_token=token, is_admin=admin
    )


@router.get("/projects/{project_id}/builds")
async def list_builds(
    project_id: str,
    conn: Conn,
    token: LhciBuildToken,
    admin: IsAdmin,
    branch: str | None = None,
    hash: str | None = None,
    lifecycle: Literal["unsealed", "sealed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=builds.MAX_BUILD_LIMIT)] = builds.DEFAULT_BUILD_LIMIT,
) -> list[Build]:
    """A project's builds, newest first."""
    await projects.authorize_read(
        conn=conn, project_id=project_id, build_token=token, is_admin=admin
    )
    return await builds.list_builds(
        conn=conn, project_id=project_id, branch=branch, hash=hash, lifecycle=lifecycle, limit=limit
    )


@router.post("/projects/{project_id}/builds")
async def create_build(
    project_id: str, body: BuildCreate, conn: Conn, token: LhciBuildToken
) -> Build:
    """Start a build (build token); 422 if the project has one for this branch + hash."""
    await projects.check_build_token(conn=conn, project_id=project_id, token=token)
    context = body.model_copy(update={"project_id": None})
    return await builds.create_build(
        conn=conn, project_id=project_id, context=context, lifecycle=body.lifecycle
    )


@router.get("/projects/{project_id}/urls")
async def project_urls(
    project_id: str, conn: Conn, token: LhciBuildToken, admin: IsAdmin
) -> list[UrlEntry]:
    """The URLs a project has runs for."""
    await projects.authorize_read(
        conn=conn, project_id=project_id, build_token=token, is_admin=admin
    )
    return [UrlEntry(url=url) for url in await builds.list_urls(conn=conn, project_id=project_id)]


@router.get("/projects/{project_id}/branches")
async def project_branches(
    project_id: str, conn: Conn, token: LhciBuildToken, admin: IsAdmin
) -> list[BranchEntry]:
    """The branches a project has builds on."""
    await projects.authorize_read(
        conn=conn, project_id=project_id, build_token=token, is_admin=admin
    )
    names = await builds.list_branches(conn=conn, project_id=project_id)
    return [BranchEntry(branch=name) for name in names]


@router.get("/projects/{project_id}/builds/{build_id}")
async def get_build(
    project_id: str, build_id: str, conn: Conn, token: LhciBuildToken, admin: IsAdmin
) -> Build:
    """One build."""
    await projects.authorize_read(
        conn=conn, project_id=project_id, build_token=token, is_admin=admin
    )
    return await builds.get_build(conn=conn, project_id=project_id, build_id=build_id)


@router.get("/projects/{project_id}/builds/{build_id}/ancestor")
async def get_ancestor(
    project_id: str, build_id: str, conn: Conn, token: LhciBuildToken, admin: IsAdmin
) -> Build:
    """The build's base build (LHCI's rules), or 404."""
    project = await projects.authorize_read(
        conn=conn, project_id=project_id, build_token=token, is_admin=admin
    )
    build = await builds.get_build(conn=conn, project_id=project_id, build_id=build_id)
    ancestor = await builds.ancestor_build(conn=conn, project=project, build=build)
    if ancestor is None:
        raise NotFound(f"build {build_id[:60]!r} has no base build")
    return ancestor


@router.get("/projects/{project_id}/builds/{build_id}/runs")
async def list_runs(
    project_id: str,
    build_id: str,
    conn: Conn,
    token: LhciBuildToken,
    admin: IsAdmin,
    representative: bool | None = None,
    url: str | None = None,
) -> list[Run]:
    """A build's runs with their LHRs."""
    await projects.authorize_read(
        conn=conn, project_id=project_id, build_token=token, is_admin=admin
    )
    return await builds.list_runs(
        conn=conn, project_id=project_id, build_id=build_id, representative=representative, url=url
    )


@router.post("/projects/{project_id}/builds/{build_id}/runs")
async def create_run(
    project_id: str, build_id: str, body: RunCreate, conn: Conn, token: LhciBuildToken
) -> Run:
    """Add a run to an unsealed build (build token); the LHR is validated first."""
    await projects.check_build_token(conn=conn, project_id=project_id, token=token)
    if body.representative:
        raise Unprocessable("Invalid representative value: the server picks representative runs")
    return await builds.add_run(
        conn=conn, project_id=project_id, build_id=build_id, url=body.url, lhr_text=body.lhr
    )


@router.get("/projects/{project_id}/builds/{build_id}/urls")
async def build_urls(
    project_id: str, build_id: str, conn: Conn, token: LhciBuildToken, admin: IsAdmin
) -> list[UrlEntry]:
    """The URLs a build has runs for."""
    await projects.authorize_read(
        conn=conn, project_id=project_id, build_token=token, is_admin=admin
    )
    urls = await builds.list_urls(conn=conn, project_id=project_id, build_id=build_id)
    return [UrlEntry(url=url) for url in urls]


@router.put("/projects/{project_id}/builds/{build_id}/lifecycle")
async def seal_build(
    project_id: str,
    build_id: str,
    lifecycle: Annotated[str, Body()],
    conn: Conn,
    token: LhciBuildToken,
) -> Response:
    """Seal a build (body ``"sealed"``): statistics and representative runs, atomically."""
    await projects.check_build_token(conn=conn, project_id=project_id, token=token)
    if lifecycle != "sealed":
        raise Unprocessable('Invalid lifecycle: the only transition is to "sealed"')
    await builds.seal_build(conn=conn, project_id=project_id, build_id=build_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/projects/{project_id}/builds/{build_id}/statistics")
async def build_statistics(
    project_id: str, build_id: str, conn: Conn, token: LhciBuildToken, admin: IsAdmin
) -> list[Statistic]:
    """A sealed build's statistics per URL (empty while unsealed)."""
    await projects.authorize_read(
        conn=conn, project_id=project_id, build_token=token, is_admin=admin
    )
    return await builds.list_statistics(conn=conn, project_id=project_id, build_id=build_id)


@app_links.get("/projects/{slug}/compare/{build_id}")
async def build_diff_link(slug: str, build_id: str, conn: Conn) -> RedirectResponse:
    """Where "View build diff" of ``lhci upload`` leads: the budgets page of the project's site."""
    project = await projects.get_project_by_slug(conn=conn, slug=slug)
    if project.site_id is None:
        raise NotFound(
            f"project {slug!r} reports to no site, so no dashboard page shows its builds; "
            f"they are at /v1/projects/{project.id}/builds"
        )
    site = await sites_service.get_site_by_id(conn=conn, site_id=project.site_id)
    return RedirectResponse(f"/dashboard/sites/{site.key}/budgets", status_code=303)
