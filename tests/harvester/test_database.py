"""The database helpers of the store: URLs as messages show them, and the advisory-lock keys."""

import pytest

from harvester.database import database_label, is_postgres_url, lock_key


@pytest.mark.parametrize(
    "database, shown",
    [
        ("postgresql://h:s3cret@db:5432/h?sslmode=require", "postgresql://h:***@db:5432/h?sslmode=require"),
        ("postgres://h@db/h?sslmode=require&password=s3cret", "postgres://h@db/h?sslmode=require&password=***"),
        ("postgresql://h@db/h", "postgresql://h@db/h"),
        ("/var/lib/harvester/harvester.sqlite3", "/var/lib/harvester/harvester.sqlite3"),
    ],
)
def test_a_password_never_shows_in_what_errors_and_logs_print(database, shown):
    assert database_label(database) == shown


def test_only_postgresql_urls_select_postgresql():
    assert is_postgres_url("postgresql://h@db/h") and is_postgres_url("postgres://h@db/h")
    assert not is_postgres_url("sqlite:///x.sqlite3") and not is_postgres_url("postgres.sqlite3")


def test_each_harvester_id_has_its_own_stable_signed_64_bit_lock_key():
    # pinned: another derivation in a new version would let an old and a new service run at once
    assert lock_key("CERN_A") == lock_key("CERN_A") == 8878826399264251925
    assert lock_key("CERN_A") != lock_key("CERN_B")
    assert all(-(2**63) <= lock_key(name) < 2**63 for name in ("", "x", "CERN_A" * 8))
