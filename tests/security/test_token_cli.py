"""Token commands as operators run them, against a collector that keeps running."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.processes import perfbeacon_env, run_perfbeacon, serving

SQLITE = "sqlite+aiosqlite:///./perfbeacon.db"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_site_tokens_rotate_and_revoke_in_a_running_server(tmp_path: Path) -> None:
    env = perfbeacon_env(SQLITE)
    created = run_perfbeacon("site", "create", "shop", env=env, cwd=tmp_path)
    site = json.loads(created.stdout)
    summary = f"/api/v1/sites/{site['key']}/summary"
    with serving(env=env, cwd=tmp_path) as (base_url, _):
        assert httpx.get(base_url + summary, headers=_bearer(site["read_token"])).status_code == 200

        rotated = run_perfbeacon("site", "rotate-token", site["key"], env=env, cwd=tmp_path)

        assert rotated.returncode == 0, rotated.stderr
        new = json.loads(rotated.stdout)
        assert new["key"] == site["key"]
        assert httpx.get(base_url + summary, headers=_bearer(site["read_token"])).status_code == 401
        assert httpx.get(base_url + summary, headers=_bearer(new["read_token"])).status_code == 200

        revoked = run_perfbeacon("site", "revoke-token", site["key"], env=env, cwd=tmp_path)

        assert revoked.returncode == 0, revoked.stderr
        assert "revoked" in revoked.stderr
        assert httpx.get(base_url + summary, headers=_bearer(new["read_token"])).status_code == 401


def test_admin_tokens_are_created_listed_and_revoked_without_a_restart(tmp_path: Path) -> None:
    env = perfbeacon_env(SQLITE)
    with serving(env=env, cwd=tmp_path) as (base_url, _):
        created = run_perfbeacon("admin-token", "create", "ops", env=env, cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        token = json.loads(created.stdout)["token"]
        sites = f"{base_url}/api/v1/sites"
        assert httpx.get(sites, headers=_bearer(token)).status_code == 200

        listed = run_perfbeacon("admin-token", "list", env=env, cwd=tmp_path)
        assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["ops"]
        assert token not in listed.stdout

        revoked = run_perfbeacon("admin-token", "revoke", "ops", env=env, cwd=tmp_path)
        assert revoked.returncode == 0, revoked.stderr
        assert httpx.get(sites, headers=_bearer(token)).status_code == 401


def test_token_commands_say_what_is_wrong_and_exit_2(tmp_path: Path) -> None:
    env = perfbeacon_env(SQLITE)
    cases = [
        (("site", "rotate-token", "pk_nope"), "no site with key"),
        (("site", "revoke-token", "pk_nope"), "no site with key"),
        (("admin-token", "revoke", "nobody"), "no admin token named"),
        (("admin-token", "create", "bad name/"), "bad admin token name"),
    ]
    for args, message in cases:
        result = run_perfbeacon(*args, env=env, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
