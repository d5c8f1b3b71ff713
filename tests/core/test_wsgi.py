import io

import pytest

from pandaweb.wsgi import application


def call(path: str) -> tuple[str, dict]:
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, dict(headers)

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }
    body = b"".join(application(environ, start_response))
    return captured["status"], captured["headers"], body


@pytest.mark.django_db
def test_the_wire_apis_are_served_without_the_browser_middleware():
    status, headers, body = call("/server/panda/isAlive")

    assert (status, body) == ("200 OK", b"alive=yes")
    assert headers["Content-Length"] == "9"
    assert "X-Frame-Options" not in headers


@pytest.mark.django_db
def test_browser_pages_keep_the_full_middleware(settings):
    # The admin's password form (a page with a CSRF token); without it /admin/login/ redirects to OIDC.
    settings.PANDA_PASSWORD_LOGIN = True
    status, headers, _ = call("/admin/login/")

    assert status == "200 OK"
    assert headers["X-Frame-Options"] == "DENY"
    assert "csrftoken" in headers.get("Set-Cookie", "")
