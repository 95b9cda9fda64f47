"""Lighthouse CI projects: creation with a build token (stored hashed), lookup, and the
project each site's budget checks go to. Knows nothing of HTTP."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy import Row, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from collector.budgets.lhci.schemas import Project
from collector.errors import Forbidden, InvalidInput, NotFound, Unauthenticated, Unprocessable
from collector.security.tokens import hash_token, token_matches
from collector.sites.schemas import Site
from collector.storage.db import committed
from collector.storage.tables import budget_projects, sites

SLUG_MAX_LENGTH = 40
SITE_PROJECT_BASE_BRANCH = "main"
_SLUG = re.compile(r"^[a-z0-9.-]{1,40}$")


def slug_for(name: str, *, random_length: int = 0) -> str:
    """LHCI's ``generateSlug``: lower case, runs of other characters become ``-``."""
    slug = re.sub(r"[^a-z0-9.]+", "-", name.lower().strip())
    base = SLUG_MAX_LENGTH - random_length - 1 if random_length else SLUG_MAX_LENGTH
    slug = slug[:base]
    if random_length:
        slug += "-" + secrets.token_hex(random_length)[:random_length]
    return slug


async def create_project(
    *,
    conn: AsyncConnection,
    name: str,
    external_url: str | None = None,
    slug: str | None = None,
    base_branch: str = "master",
    site_id: int | None = None,
    now: datetime | None = None,
) -> Project:
    """Create a project and commit; the answer carries its build token, shown this once."""
    if len(name) < 4:
        raise Unprocessable("Project name too short: use at least 4 characters")
    if slug is not None and not _SLUG.fullmatch(slug):
        raise InvalidInput(f"bad slug {slug[:60]!r}: use 1-40 of a-z, 0-9, '.' and '-'")
    token = str(uuid.uuid4())
    created_at = now or datetime.now(UTC)
    for attempt in range(8):
        candidate = (
            slug if slug is not None and attempt == 0 else slug_for(name, random_length=attempt * 2)
        )
        project = Project(
            id=str(uuid.uuid4()),
            site_id=site_id,
            name=name,
            slug=candidate,
            external_url=external_url,
            base_branch=base_branch,
            created_at=created_at,
            updated_at=created_at,
        )
        try:
            async with committed(conn):
                await conn.execute(insert(budget_projects).values(**_row(project, token=token)))
        except IntegrityError:
            if slug is not None and attempt == 0:
                raise Unprocessable(f"a project with slug {slug!r} already exists") from None
            continue
        return project.model_copy(update={"token": token})
    raise Unprocessable("unable to generate a unique slug; give one")


def _row(project: Project, *, token: str) -> dict[str, object]:
    """The stored row of a project: its fields, with its build token hashed."""
    return {
        **project.model_dump(exclude={"token", "admin_token"}),
        "token_hash": hash_token(token),
    }


async def list_projects(*, conn: AsyncConnection, site_id: int | None = None) -> list[Project]:
    """Every project (or a site's projects), oldest first, without tokens."""
    query = select(budget_projects).order_by(budget_projects.c.created_at)
    if site_id is not None:
        query = query.where(budget_projects.c.site_id == site_id)
    return [_to_project(row) for row in await conn.execute(query)]


async def get_project(*, conn: AsyncConnection, project_id: str) -> Project:
    """The project with this id, or NotFound."""
    row = (
        await conn.execute(select(budget_projects).where(budget_projects.c.id == project_id))
    ).first()
    if row is None:
        raise NotFound(f"no project with id {project_id[:60]!r}")
    return _to_project(row)


async def get_project_by_slug(*, conn: AsyncConnection, slug: str) -> Project:
    """The project with this slug, or NotFound."""
    row = (
        await conn.execute(select(budget_projects).where(budget_projects.c.slug == slug))
    ).first()
    if row is None:
        raise NotFound(f"no project with slug {slug[:60]!r}")
    return _to_project(row)


async def find_project_by_token(*, conn: AsyncConnection, token: str) -> Project:
    """The project whose build token this is (the token echoed back), or NotFound."""
    query = select(budget_projects).where(budget_projects.c.token_hash == hash_token(token))
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound("no project has this build token")
    return _to_project(row).model_copy(update={"token": token})


async def check_build_token(
    *, conn: AsyncConnection, project_id: str, token: str | None
) -> Project:
    """The project, if ``token`` is its build token; else Unauthenticated or Forbidden."""
    project_row = (
        await conn.execute(select(budget_projects).where(budget_projects.c.id == project_id))
    ).first()
    if token is None:
        raise Unauthenticated("the project's build token is required: x-lhci-build-token")
    if project_row is None or not token_matches(token, project_row.token_hash):
        raise Forbidden("Invalid token")
    return _to_project(project_row)


async def project_for_site(*, conn: AsyncConnection, site: Site) -> Project:
    """The project a site's budget checks are stored in, created on first use (uncommitted
    callers must commit)."""
    query = (
        select(budget_projects)
        .where(budget_projects.c.site_id == site.id)
        .order_by(budget_projects.c.created_at)
    )
    row = (await conn.execute(query)).first()
    if row is not None:
        return _to_project(row)
    site_row = (await conn.execute(select(sites.c.name).where(sites.c.id == site.id))).first()
    name = f"site {site_row.name if site_row else site.id}"
    now = datetime.now(UTC)
    project = Project(
        id=str(uuid.uuid4()),
        site_id=site.id,
        name=name,
        slug=slug_for(f"site-{site.key}")[:SLUG_MAX_LENGTH].lower(),
        external_url=None,
        base_branch=SITE_PROJECT_BASE_BRANCH,
        created_at=now,
        updated_at=now,
    )
    # Nobody holds this token: site projects are written through the site's read token.
    await conn.execute(
        insert(budget_projects).values(**_row(project, token=secrets.token_urlsafe(32)))
    )
    return project


def _to_project(row: Row[tuple[object, ...]]) -> Project:
    return Project(
        id=row.id,
        name=row.name,
        slug=row.slug,
        external_url=row.external_url,
        base_branch=row.base_branch,
        site_id=row.site_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def authorize_read(
    *, conn: AsyncConnection, project_id: str, build_token: str | None, is_admin: bool
) -> Project:
    """The project, if the caller may read it: with its build token or the admin token.

    Unlike the LHCI server, perfbeacon does not serve builds to anonymous callers.
    """
    if is_admin:
        return await get_project(conn=conn, project_id=project_id)
    return await check_build_token(conn=conn, project_id=project_id, token=build_token)
