"""Shapes of projects, builds, runs and statistics, as the Lighthouse CI API spells them
(camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


class LhciModel(BaseModel):
    """camelCase on the wire (LHCI's names), snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    @model_validator(mode="after")
    def _no_nul_characters(self) -> LhciModel:
        # PostgreSQL cannot store NUL in text; refuse it here rather than fail on insert.
        for name, value in self:
            if isinstance(value, str) and "\x00" in value and name != "lhr":
                raise ValueError(f"{name} contains a NUL character")
        return self


class Project(LhciModel):
    """A Lighthouse CI project; ``token`` is shown only when it was just made or looked up."""

    id: str
    name: str
    slug: str
    external_url: str | None = None
    base_branch: str
    token: str = ""
    admin_token: str = ""
    site_id: int | None = None
    created_at: datetime
    updated_at: datetime


class ProjectCreate(LhciModel):
    """``POST /v1/projects``: LHCI's fields, plus the perfbeacon site the project reports to."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    name: str = Field(min_length=4, max_length=256)
    external_url: str | None = Field(default=None, max_length=256)
    slug: str | None = Field(default=None, max_length=40)
    base_branch: str = Field(default="master", min_length=1, max_length=80)
    site_key: str | None = Field(default=None, max_length=64)


class TokenLookup(BaseModel):
    """``POST /v1/projects/lookup``."""

    token: str = Field(max_length=200)


class BuildContext(LhciModel):
    """Where a build comes from (``LHCI_BUILD_CONTEXT__*`` and git)."""

    hash: str = Field(min_length=1, max_length=64)
    branch: str = Field(min_length=1, max_length=256)
    ancestor_hash: str | None = Field(default=None, max_length=64)
    commit_message: str | None = Field(default=None, max_length=1024)
    author: str | None = Field(default=None, max_length=256)
    avatar_url: str | None = Field(default=None, max_length=512)
    external_build_url: str | None = Field(default=None, max_length=512)
    run_at: datetime | None = None
    committed_at: datetime | None = None
    ancestor_committed_at: datetime | None = None


class BuildCreate(BuildContext):
    """``POST /v1/projects/:id/builds`` as ``lhci upload`` sends it."""

    project_id: str | None = None
    lifecycle: str = "unsealed"


class Build(LhciModel):
    """A CI build of a project."""

    id: str
    project_id: str
    lifecycle: Literal["unsealed", "sealed"]
    hash: str
    branch: str
    ancestor_hash: str | None = None
    commit_message: str | None = None
    author: str | None = None
    avatar_url: str | None = None
    external_build_url: str | None = None
    run_at: datetime
    committed_at: datetime | None = None
    ancestor_committed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class RunCreate(LhciModel):
    """``POST /v1/projects/:id/builds/:id/runs``: the LHR travels as a JSON string."""

    project_id: str | None = None
    build_id: str | None = None
    representative: bool = False
    url: str = Field(min_length=1, max_length=2048)
    lhr: str


class Run(LhciModel):
    """One Lighthouse run of a build; ``lhr`` is the full report, or its summary once the
    full report has passed its retention."""

    id: str
    project_id: str
    build_id: str
    url: str
    representative: bool
    lhr: str
    created_at: datetime
    updated_at: datetime


class Statistic(LhciModel):
    """One statistic of a sealed build, per URL."""

    id: str
    project_id: str
    build_id: str
    url: str
    version: int
    name: str
    value: float
    created_at: datetime
    updated_at: datetime


class UrlEntry(BaseModel):
    """An entry of ``GET .../urls``."""

    url: str


class BranchEntry(BaseModel):
    """An entry of ``GET .../branches``."""

    branch: str
