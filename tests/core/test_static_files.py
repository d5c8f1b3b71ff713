import importlib

import pytest
from django.test import Client
from django.urls import clear_url_caches

import pandaweb.urls


@pytest.fixture
def urls_with(settings):
    """Rebuild the root URLconf under the given settings, and restore it afterwards."""

    def rebuild(**values):
        for name, value in values.items():
            setattr(settings, name, value)
        importlib.reload(pandaweb.urls)
        clear_url_caches()

    yield rebuild
    settings.PANDA_SERVE_STATIC = False
    importlib.reload(pandaweb.urls)
    clear_url_caches()


@pytest.fixture
def collected(tmp_path):
    css = tmp_path / "admin" / "css" / "base.css"
    css.parent.mkdir(parents=True)
    css.write_text("body { color: black; }\n")
    return tmp_path


def test_the_quick_start_serves_collected_static_files_itself(client, urls_with, collected):
    urls_with(PANDA_SERVE_STATIC=True, STATIC_ROOT=collected)

    response = client.get("/static/admin/css/base.css")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"body { color: black; }\n"


def test_by_default_static_files_are_left_to_the_front_proxy(client, urls_with, collected):
    urls_with(PANDA_SERVE_STATIC=False, STATIC_ROOT=collected)

    assert client.get("/static/admin/css/base.css").status_code == 404


def test_static_serving_never_leaves_the_static_root(urls_with, collected):
    (collected.parent / "secret.txt").write_text("no")
    urls_with(PANDA_SERVE_STATIC=True, STATIC_ROOT=collected)
    client = Client(raise_request_exception=False)

    for path in ("/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/admin/../../secret.txt"):
        response = client.get(path)
        assert response.status_code in (400, 404), path
