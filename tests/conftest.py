import os

import pytest


def pytest_configure(config):
    # pytest-django has loaded the settings before this conftest is imported, so the eager flag is set
    # on the Celery app itself: tasks called with .delay() run in-process. Tests that need the real
    # broker send tasks by name (send_task), which always goes through the broker.
    from pandaweb.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    _sqlite_test_database_in_a_file()


def _sqlite_test_database_in_a_file() -> None:
    """On SQLite, the test database is a file of this test process, not Django's default in-memory one.

    With an in-memory database Django hands the live server's thread the test thread's own connection,
    so a test that runs an agent while the server answers a pilot uses one SQLite connection from two
    threads at once ("cannot start a transaction within a transaction"). With a file each thread has
    its own connection and SQLite's locking serialises them, as in the embedded default's deployment.
    Django deletes the file when the run ends.
    """
    import tempfile

    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        name = os.path.join(tempfile.gettempdir(), f"panda-test-{os.getpid()}.sqlite3")
        database.setdefault("TEST", {})["NAME"] = name


def _forget_process_caches() -> None:
    from apps.accounts.authentication import forget_identity_caches
    from apps.jedi.services.throttle import forget_throttle_counts
    from apps.jobs.services.dispatch import forget_dispatch_caches
    from apps.shares.services.ranking import forget_share_ranking
    from apps.sites.selectors import forget_cached_queues

    forget_identity_caches()
    forget_cached_queues()
    forget_dispatch_caches()
    forget_share_ranking()
    forget_throttle_counts()


@pytest.fixture(autouse=True)
def _isolated_caches(settings, tmp_path):
    """Per-process caches (tokens, queue documents, dispatch throttles) must not leak between tests."""
    _forget_process_caches()
    settings.PANDA_TRF_DIR = tmp_path / "trf"
    yield
    _forget_process_caches()


_DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "live_server",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
}


@pytest.fixture(autouse=True)
def _test_issuer(request):
    """Tokens of tests/oidc_issuer.py are valid: its documents answer the validator's fetches and, for
    tests with a database, the VO record ``atlas`` exists (client panda-client, auto roles production and
    pilot, robots panda-pilot -> pilot and panda-harvester -> production)."""
    from apps.accounts.models import AuthConfig
    from apps.accounts.oidc.keys import set_fetcher
    from tests.oidc_issuer import ATLAS_CONFIG, ISSUER

    ISSUER.fetches.clear()
    set_fetcher(ISSUER.fetch)
    if request.node.get_closest_marker("django_db") or _DATABASE_FIXTURES & set(request.fixturenames):
        request.getfixturevalue("db")
        fields = {k: v for k, v in ATLAS_CONFIG.items() if k != "name"}
        AuthConfig.objects.get_or_create(name=ATLAS_CONFIG["name"], defaults=fields)
    yield
    set_fetcher(None)


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    for item in items:
        if item.get_closest_marker("postgres") and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)"))
        if item.get_closest_marker("broker") and not broker.startswith("redis"):
            item.add_marker(pytest.mark.skip(reason="needs CELERY_BROKER_URL=redis://..."))
