"""End to end: the unmodified ``lhci upload --target=lhci`` uploads to a running perfbeacon,
and the build and its runs are then readable through perfbeacon's API."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.budgets.lhci_assert import LHCI, lhci_available
from tests.budgets.parity_cases import LHR_DIR
from tests.citus import CITUS_DATABASE, CitusCluster
from tests.conftest import ADMIN_TOKEN
from tests.databases import postgres_schema_for_process
from tests.processes import perfbeacon_env, serving

pytestmark = pytest.mark.skipif(
    not (lhci_available() and shutil.which("git")),
    reason="lhci is not installed (cd tools/lhci && npm ci) or git is missing",
)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(path: Path) -> str:
    """A git repository on branch master with one commit, as a CI checkout has."""
    path.mkdir()
    git(path, "init", "-q", "-b", "master")
    git(path, "config", "user.email", "ci@shop.example")
    git(path, "config", "user.name", "Shop CI")
    (path / "index.html").write_text("<h1>Shop</h1>\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "Render the shop")
    return git(path, "rev-parse", "HEAD")


def lhci_upload(repo: Path, base_url: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LHCI_", "CI", "GITHUB_"))}
    return subprocess.run(
        [str(LHCI), "upload", "--target=lhci", f"--serverBaseUrl={base_url}", f"--token={token}"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def database_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The embedded SQLite default, or a fresh schema on the Citus cluster."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'pb.db'}"
        return
    cluster: CitusCluster = request.getfixturevalue("citus")
    with postgres_schema_for_process(cluster.database_url(CITUS_DATABASE)) as url:
        yield url


@pytest.mark.parametrize("kind", ["sqlite", "citus"])
def test_lhci_upload_to_perfbeacon(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    repo = tmp_path / "shop"
    commit = make_repo(repo)
    saved = repo / ".lighthouseci"
    saved.mkdir()
    for i, name in enumerate(("v1-index-1", "v1-index-2", "v1-index-3", "v1-heavy-1")):
        shutil.copy(LHR_DIR / f"{name}.json", saved / f"lhr-{1000 + i}.json")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with (
        database_for(kind, request, tmp_path) as database_url,
        serving(
            env=perfbeacon_env(database_url, PERFBEACON_ADMIN_TOKEN=ADMIN_TOKEN), cwd=tmp_path
        ) as (base_url, _),
    ):
        site = httpx.post(f"{base_url}/api/v1/sites", json={"name": "shop"}, headers=admin).json()
        created = httpx.post(
            f"{base_url}/v1/projects",
            json={"name": "shop frontend", "siteKey": site["key"]},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        project = created.json()

        done = lhci_upload(repo, base_url, project["token"])
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Done saving build results to Lighthouse CI" in done.stdout
        # The link lhci prints leads to the budgets page of the project's site.
        link = re.search(r"(http://\S+/app/projects/\S+/compare/\S+)", done.stdout)
        assert link is not None, done.stdout
        followed = httpx.get(link.group(1))
        assert followed.status_code == 303, followed.text
        assert followed.headers["location"] == f"/dashboard/sites/{site['key']}/budgets"

        headers = {"x-lhci-build-token": project["token"]}
        builds = httpx.get(f"{base_url}/v1/projects/{project['id']}/builds", headers=headers).json()
        assert len(builds) == 1
        build = builds[0]
        assert (build["hash"], build["branch"], build["lifecycle"]) == (commit, "master", "sealed")
        assert build["commitMessage"] == "Render the shop"
        assert build["author"].startswith("Shop CI")
        runs = httpx.get(
            f"{base_url}/v1/projects/{project['id']}/builds/{build['id']}/runs", headers=headers
        ).json()
        assert len(runs) == 4
        # lhci upload masks ports by its default urlReplacementPatterns.
        assert {r["url"] for r in runs} == {
            "http://127.0.0.1:PORT/index.html",
            "http://127.0.0.1:PORT/heavy.html",
        }
        assert sum(r["representative"] for r in runs) == 2
        stats = httpx.get(
            f"{base_url}/v1/projects/{project['id']}/builds/{build['id']}/statistics",
            headers=headers,
        )
        assert {s["url"] for s in stats.json()} == {r["url"] for r in runs}

        again = lhci_upload(repo, base_url, project["token"])
        assert again.returncode != 0
        assert "422" in again.stdout + again.stderr
        assert "Build already exists" in again.stdout + again.stderr
