import os

import pytest

os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")


@pytest.fixture(autouse=True)
def _isolated_caches(settings, tmp_path):
    """Per-process caches (tokens, queue documents) must not leak between tests."""
    from apps.accounts.authentication import forget_cached_tokens

    forget_cached_tokens()
    try:
        from apps.sites.selectors import forget_cached_queues
    except ImportError:  # pragma: no cover - before the sites selectors exist
        forget_cached_queues = None
    if forget_cached_queues:
        forget_cached_queues()
    settings.PANDA_TRF_DIR = tmp_path / "trf"
    yield
    forget_cached_tokens()
    if forget_cached_queues:
        forget_cached_queues()


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    for item in items:
        if item.get_closest_marker("postgres") and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)"))
        if item.get_closest_marker("broker") and not broker.startswith("redis"):
            item.add_marker(pytest.mark.skip(reason="needs CELERY_BROKER_URL=redis://..."))
