"""Settings: validated at start, one-line errors naming the variable."""

from __future__ import annotations

import pytest

from collector.config import DEFAULT_DATABASE_URL, InvalidSettings, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    for name in ("PERFBEACON_DATABASE_URL", "PERFBEACON_ADMIN_TOKEN", "PERFBEACON_CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_use_embedded_sqlite() -> None:
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.is_sqlite
    assert settings.admin_token is None


def test_bad_integer_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFBEACON_RETENTION_DAYS", "forever")
    with pytest.raises(InvalidSettings) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("invalid setting PERFBEACON_RETENTION_DAYS:")
    assert "\n" not in message


def test_unknown_database_driver_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFBEACON_DATABASE_URL", "mysql://root@localhost/x")
    with pytest.raises(InvalidSettings, match="PERFBEACON_DATABASE_URL"):
        load_settings()


@pytest.mark.parametrize(
    "token",
    [
        "changeme",
        "short",
        "admin",
        "changeme-changeme-changeme",
        "your-admin-token-here",
        "xxxxxxxxxxxxxxxx",
        "abababababababababab",
        "PLACEHOLDER_TOKEN_0123456789",
    ],
)
def test_placeholder_admin_token_fails_closed(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("PERFBEACON_ADMIN_TOKEN", token)
    with pytest.raises(InvalidSettings, match="PERFBEACON_ADMIN_TOKEN"):
        load_settings()


def test_a_generated_admin_token_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "Zk3_q9LmVw0aT7xR2bNc8yHdE4sJ6uPf1gKo5iAtQhY"  # secrets.token_urlsafe(32)
    monkeypatch.setenv("PERFBEACON_ADMIN_TOKEN", token)
    settings = load_settings()
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == token


def test_settings_come_from_a_dotenv_file(tmp_path: object) -> None:
    from pathlib import Path

    Path(str(tmp_path), ".env").write_text("PERFBEACON_RETENTION_DAYS=30\n")
    assert load_settings().retention_days == 30


def test_cors_origins_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFBEACON_CORS_ORIGINS", "https://a.example, https://b.example")
    assert load_settings().cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("value", "valid"),
    [("10.0.0.1", True), ("10.0.0.0/8, 127.0.0.1", True), ("*", True), ("proxy.lan", False)],
)
def test_trusted_proxies_are_addresses_or_networks(
    monkeypatch: pytest.MonkeyPatch, value: str, valid: bool
) -> None:
    monkeypatch.setenv("PERFBEACON_FORWARDED_ALLOW_IPS", value)
    if valid:
        assert load_settings().forwarded_allow_ips == value
    else:
        with pytest.raises(InvalidSettings, match="PERFBEACON_FORWARDED_ALLOW_IPS"):
            load_settings()


@pytest.mark.parametrize("value", ["{bad", '{"shop": "/checkout"}', "[" * 100_000])
def test_bad_field_gauge_routes_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PERFBEACON_FIELD_GAUGE_ROUTES", value)
    with pytest.raises(InvalidSettings) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("invalid setting PERFBEACON_FIELD_GAUGE_ROUTES:")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("value", "routes"), [("", {}), ('{"shop": ["/checkout"]}', {"shop": ["/checkout"]})]
)
def test_field_gauge_routes_are_a_json_object(
    monkeypatch: pytest.MonkeyPatch, value: str, routes: dict[str, list[str]]
) -> None:
    monkeypatch.setenv("PERFBEACON_FIELD_GAUGE_ROUTES", value)
    assert load_settings().field_gauge_routes == routes


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("rediss://cache.internal:6380", "rediss://cache.internal:6380"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
        ("", None),
    ],
)
def test_redis_url_accepts_what_redis_connects_to(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str | None
) -> None:
    monkeypatch.setenv("PERFBEACON_REDIS_URL", value)
    assert load_settings().redis_url == expected


@pytest.mark.parametrize("value", ["notaurl", "http://localhost:6379", "redis://localhost:port/0"])
def test_redis_url_of_another_kind_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PERFBEACON_REDIS_URL", value)
    with pytest.raises(InvalidSettings, match="invalid setting PERFBEACON_REDIS_URL: "):
        load_settings()
