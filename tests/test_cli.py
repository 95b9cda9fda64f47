"""The perfbeacon command as users run it: serve, migrate, site create."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from collector.storage.db import create_engine
from collector.storage.migrate import current_revision
from tests.databases import postgres_database_for_process
from tests.processes import perfbeacon_env, run_perfbeacon, serving

SQLITE_DEFAULT = "sqlite+aiosqlite:///./perfbeacon.db"


def test_serve_migrates_an_empty_sqlite_database_and_answers(tmp_path: Path) -> None:
    # How fast it starts is measured by bench/startup.py, not here.
    env = perfbeacon_env(SQLITE_DEFAULT)
    with serving(env=env, cwd=tmp_path) as (base_url, _):
        assert httpx.get(f"{base_url}/health").status_code == 200
        ready = httpx.get(f"{base_url}/ready")
        assert ready.status_code == 200, ready.text
    assert (tmp_path / "perfbeacon.db").exists()


def test_serve_on_postgresql(tmp_path: Path) -> None:
    with (
        postgres_database_for_process() as url,
        serving(env=perfbeacon_env(url), cwd=tmp_path) as (base_url, _),
    ):
        assert httpx.get(f"{base_url}/ready").status_code == 200


def test_site_create_prints_one_json_object(tmp_path: Path) -> None:
    env = perfbeacon_env(SQLITE_DEFAULT)
    result = run_perfbeacon(
        "site", "create", "shop", "--origin", "https://shop.example", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    site = json.loads(result.stdout)
    assert set(site) == {"id", "key", "read_token"}
    assert site["key"].startswith("pk_")
    assert site["read_token"].startswith("pbr_")

    listed = run_perfbeacon("site", "list", env=env, cwd=tmp_path)
    assert json.loads(listed.stdout)["origins"] == ["https://shop.example"]


@pytest.mark.parametrize("command", [["site", "list"], ["admin-token", "list"]])
def test_listing_commands_read_and_never_migrate(tmp_path: Path, command: list[str]) -> None:
    with postgres_database_for_process() as url:
        env = perfbeacon_env(url)
        refused = run_perfbeacon(*command, env=env, cwd=tmp_path)
        assert refused.returncode == 1
        assert "not at the newest schema: run `perfbeacon migrate`" in refused.stderr
        assert asyncio.run(_revision(url)) is None
        assert run_perfbeacon("migrate", env=env, cwd=tmp_path).returncode == 0
        assert run_perfbeacon(*command, env=env, cwd=tmp_path).returncode == 0


async def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


def test_migrate_on_an_empty_database(tmp_path: Path) -> None:
    result = run_perfbeacon("migrate", env=perfbeacon_env(SQLITE_DEFAULT), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "newest schema" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["site", "create", "bad/name"], "bad site name"),
        (["site", "create", "shop", "--origin", "shop.example"], "bad origin"),
        (["site", "create"], "Missing argument"),
        (["serve", "--port", "nope"], "Invalid value"),
        (["field", "check", "--day", "0001-01-01"], "--day 0001-01-01 is too early"),
        (["field", "check", "--day", "0001-01-08"], "--day 0001-01-08 is too early"),
        (["field", "check", "--day", "9999-12-31"], "--day 9999-12-31 has not come yet"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_perfbeacon(*args, env=perfbeacon_env(SQLITE_DEFAULT), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    env = perfbeacon_env(SQLITE_DEFAULT, PERFBEACON_RETENTION_DAYS="soon")
    result = run_perfbeacon("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("perfbeacon: invalid setting PERFBEACON_RETENTION_DAYS")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PERFBEACON_FIELD_GAUGE_ROUTES", "{bad"), ("PERFBEACON_REDIS_URL", "notaurl")],
)
def test_serve_refuses_an_invalid_setting_before_starting(
    tmp_path: Path, variable: str, value: str
) -> None:
    env = perfbeacon_env(SQLITE_DEFAULT, **{variable: value})
    result = run_perfbeacon("serve", "--port", "0", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"perfbeacon: invalid setting {variable}: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_exits_1_without_a_traceback(tmp_path: Path) -> None:
    env = perfbeacon_env("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    result = run_perfbeacon("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "database error" in result.stderr
    assert "Traceback" not in result.stderr
