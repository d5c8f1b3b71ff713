"""The env-driven settings: URL parsing, typed helpers and the beat table, in-process and as a whole module."""

import json
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings

from pandaweb.settings import (
    SettingError,
    beat_entry,
    broker_from_url,
    database_from_url,
    env_bool,
    env_int,
    env_list,
)

READ_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "db": settings.DATABASES["default"],
    "broker": settings.CELERY_BROKER_URL,
    "transport": settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    "beat": settings.CELERY_BEAT_SCHEDULE,
    "tz": [settings.TIME_ZONE, settings.CELERY_TIMEZONE, settings.USE_TZ],
    "n_jobs": settings.PANDA_N_JOBS_IN_GETJOB,
}, default=str))
"""


def load_settings(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """Import the settings module in a fresh interpreter with exactly this environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "PANDA_", "DB_"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "pandaweb.settings", "PANDA_VAR_DIR": str(tmp_path / "var"), **env})
    return subprocess.run(
        [sys.executable, "-c", READ_SETTINGS],
        env=clean,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded(tmp_path, **env: str) -> dict:
    result = load_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_postgres_url_gives_every_connection_field_with_percent_escapes_decoded():
    db = database_from_url("postgres://alice:s%40cret@db.example.org:6543/panda?sslmode=require&connect_timeout=5")

    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"]) == ("panda", "alice", "s@cret")
    assert (db["HOST"], db["PORT"]) == ("db.example.org", "6543")
    assert db["OPTIONS"] == {
        "sslmode": "require",
        "connect_timeout": "5",
        "server_side_binding": True,
        "prepare_threshold": 2,
    }


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "pgsql"])
def test_a_bare_postgres_url_falls_back_to_the_local_defaults(scheme):
    db = database_from_url(f"{scheme}://127.0.0.1")

    assert (db["NAME"], db["USER"], db["PASSWORD"], db["PORT"]) == ("postgres", "postgres", "", "5432")


def test_the_connection_lifetime_comes_from_db_conn_max_age(monkeypatch):
    monkeypatch.setenv("DB_CONN_MAX_AGE", "0")

    assert database_from_url("postgres://postgres@127.0.0.1/x")["CONN_MAX_AGE"] == 0


def test_a_sqlite_url_gives_the_file_path_with_wal_and_a_busy_timeout():
    db = database_from_url("sqlite:////srv/panda/panda.sqlite3")

    assert (db["ENGINE"], db["NAME"]) == ("django.db.backends.sqlite3", "/srv/panda/panda.sqlite3")
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert db["OPTIONS"]["timeout"] > 0


@pytest.mark.parametrize(
    ("url", "scheme"),
    [("mysql://root@127.0.0.1/panda", "mysql"), ("127.0.0.1:5432/panda", ""), ("oracle://x", "oracle")],
)
def test_an_unsupported_database_url_is_rejected_naming_its_scheme(url, scheme):
    with pytest.raises(SettingError, match=f"DATABASE_URL scheme '{scheme}' is not supported"):
        database_from_url(url)


@pytest.mark.parametrize(
    "url", ["filesystem://", "redis://127.0.0.1:6379/15", "rediss://h:6380/0", "amqp://guest:guest@127.0.0.1//"]
)
def test_supported_broker_urls_are_accepted_unchanged(url):
    assert broker_from_url(url) == url


@pytest.mark.parametrize(
    ("url", "shown"),
    [("redis:/127.0.0.1:6379", "'redis:/127.0.0.1:6379' (no scheme)"), ("http://127.0.0.1:6379", "scheme 'http'")],
)
def test_a_bad_broker_url_is_rejected_with_a_clear_error(url, shown):
    with pytest.raises(SettingError, match=re.escape(f"CELERY_BROKER_URL {shown} is not supported")):
        broker_from_url(url)


def test_a_rejected_broker_url_does_not_echo_its_password():
    with pytest.raises(SettingError) as error:
        broker_from_url("kafka://admin:hunter2@127.0.0.1:9092")

    assert "hunter2" not in str(error.value)


def test_env_int_reads_integers_and_uses_the_default_when_unset_or_empty(monkeypatch):
    monkeypatch.setenv("PANDA_TEST_INT", "42")
    monkeypatch.setenv("PANDA_TEST_EMPTY", "")

    assert env_int("PANDA_TEST_INT", 1) == 42
    assert env_int("PANDA_TEST_EMPTY", 7) == 7
    assert env_int("PANDA_TEST_UNSET_NAME", 9) == 9


def test_env_int_rejects_a_non_integer_naming_the_variable(monkeypatch):
    monkeypatch.setenv("PANDA_TEST_INT", "ten")

    with pytest.raises(SettingError, match="PANDA_TEST_INT must be an integer, got 'ten'"):
        env_int("PANDA_TEST_INT", 1)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        (" ON ", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("off", False),
    ],
)
def test_env_bool_understands_the_usual_spellings(monkeypatch, raw, value):
    monkeypatch.setenv("PANDA_TEST_BOOL", raw)

    assert env_bool("PANDA_TEST_BOOL", not value) is value


def test_env_bool_rejects_anything_else_naming_the_variable(monkeypatch):
    monkeypatch.setenv("PANDA_TEST_BOOL", "maybe")

    with pytest.raises(SettingError, match="PANDA_TEST_BOOL must be a boolean"):
        env_bool("PANDA_TEST_BOOL", False)


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("PANDA_TEST_LIST", " a.example, ,b.example,")

    assert env_list("PANDA_TEST_LIST") == ["a.example", "b.example"]


def test_a_beat_entry_runs_at_its_default_period_and_expires_before_the_next_run():
    assert beat_entry("apps.jobs.tasks.run_adder", 240) == {
        "task": "apps.jobs.tasks.run_adder",
        "schedule": 240.0,
        "options": {"expires": 240.0},
    }


def test_a_beat_entry_is_overridden_or_disabled_by_its_env_var(monkeypatch):
    monkeypatch.setenv("PANDA_BEAT_RUN_ADDER", "60")
    monkeypatch.setenv("PANDA_BEAT_RUN_WATCHER", "0")

    assert beat_entry("apps.jobs.tasks.run_adder", 240)["schedule"] == 60.0
    assert beat_entry("apps.jobs.tasks.run_watcher", 600) is None


@pytest.mark.slow
def test_with_no_environment_the_project_uses_sqlite_and_the_filesystem_broker_under_var(tmp_path):
    values = loaded(tmp_path)

    var = tmp_path / "var"
    assert values["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert values["db"]["NAME"] == str(var / "panda.sqlite3")
    assert values["broker"] == "filesystem://"
    assert values["transport"]["data_folder_in"] == str(var / "broker" / "queue")
    assert (var / "broker" / "queue").is_dir()
    assert (var / "broker" / "processed").is_dir()
    assert values["tz"] == ["UTC", "UTC", False]
    assert sorted(values["beat"]) == sorted(task.rsplit(".", 1)[-1] for task, _ in settings.BEAT_TABLE)


DECLARE_FANOUT = """
import django
django.setup()
from kombu import Exchange, Queue
from pandaweb.celery import app
with app.connection_for_write() as connection:
    Queue("probe", Exchange("probe.pidbox", type="fanout"), channel=connection.channel()).declare()
"""


@pytest.mark.slow
def test_the_filesystem_broker_keeps_its_exchange_tables_under_var_not_in_the_working_directory(tmp_path):
    # A worker's pidbox is a fanout exchange; kombu's filesystem transport writes its table to
    # ./control unless told otherwise, which would litter the directory the worker was started in.
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "PANDA_", "DB_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "pandaweb.settings",
            "PANDA_VAR_DIR": str(tmp_path / "var"),
            "PYTHONPATH": str(settings.BASE_DIR),
        }
    )

    result = subprocess.run(
        [sys.executable, "-c", DECLARE_FANOUT], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "broker" / "control" / "probe.pidbox.exchange").is_file()
    assert list(cwd.iterdir()) == []


@pytest.mark.slow
def test_database_url_and_celery_broker_url_switch_to_postgresql_and_redis(tmp_path):
    values = loaded(
        tmp_path,
        DATABASE_URL="postgres://panda:pw@127.0.0.1:5999/panda_prod",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/3",
    )

    assert values["db"]["ENGINE"] == "django.db.backends.postgresql"
    assert (values["db"]["NAME"], values["db"]["PORT"]) == ("panda_prod", "5999")
    assert values["broker"] == "redis://127.0.0.1:6379/3"
    assert values["transport"] == {}
    assert not (tmp_path / "var" / "broker").exists()


@pytest.mark.slow
def test_an_empty_broker_url_means_the_embedded_default(tmp_path):
    assert loaded(tmp_path, CELERY_BROKER_URL="")["broker"] == "filesystem://"


@pytest.mark.slow
def test_beat_entries_follow_their_env_vars_in_the_loaded_schedule(tmp_path):
    beat = loaded(tmp_path, PANDA_BEAT_RUN_WATCHER="0", PANDA_BEAT_RUN_ADDER="60")["beat"]

    assert "run_watcher" not in beat
    assert beat["run_adder"]["schedule"] == 60.0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql://root@127.0.0.1/panda"}, "DATABASE_URL scheme 'mysql' is not supported"),
        (
            {"CELERY_BROKER_URL": "redis:/127.0.0.1"},
            "CELERY_BROKER_URL 'redis:/127.0.0.1' (no scheme) is not supported",
        ),
        ({"PANDA_N_JOBS_IN_GETJOB": "many"}, "PANDA_N_JOBS_IN_GETJOB must be an integer, got 'many'"),
        ({"DEBUG": "perhaps"}, "DEBUG must be a boolean"),
        ({"PANDA_BEAT_RUN_ADDER": "4m"}, "PANDA_BEAT_RUN_ADDER must be an integer"),
    ],
)
def test_a_bad_value_stops_the_process_at_startup_with_a_clear_error(tmp_path, env, message):
    result = load_settings(tmp_path, **env)

    assert result.returncode != 0
    assert "SettingError" in result.stderr
    assert message in result.stderr
    assert result.stdout == ""
