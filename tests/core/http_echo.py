"""A WSGI application for the HTTP worker's tests: it answers with what the server gave it.

Served by gunicorn in a subprocess (``tests/core/test_http_worker.py``); not a test module itself.
"""

import hashlib
import json
import os

ECHOED = (
    "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "RAW_URI", "SERVER_PROTOCOL", "SERVER_NAME", "SERVER_PORT",
    "REMOTE_ADDR", "CONTENT_TYPE", "CONTENT_LENGTH", "SCRIPT_NAME", "wsgi.url_scheme",
)  # fmt: skip


def echo(environ: dict, body: bytes) -> bytes:
    seen = {key: environ[key] for key in ECHOED if key in environ}
    seen.update({key: value for key, value in environ.items() if key.startswith("HTTP_")})
    seen["body_sha256"] = hashlib.sha256(body).hexdigest()
    seen["body_length"] = len(body)
    seen["input_is_readable"] = hasattr(environ["wsgi.input"], "readline")
    return json.dumps(seen, sort_keys=True).encode()


def application(environ, start_response):
    path = environ["PATH_INFO"]
    body = environ["wsgi.input"].read()
    if path == "/raise":
        raise RuntimeError("the application failed")
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (bytes([n % 251]) * 1000 for n in range(300))
    if path == "/file":
        name = os.environ["ECHO_FILE"]
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(os.path.getsize(name)))])  # fmt: skip
        return environ["wsgi.file_wrapper"](open(name, "rb"), 8192)  # noqa: SIM115  (the server closes it)
    if path == "/split-header":
        start_response("200 OK", [("X-Note", "a\r\nSet-Cookie: injected=1")])
        return [b"never sent"]
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written, ")
        return [b"then returned"]
    if path == "/no-content":
        start_response("204 No Content", [])
        return [b""]
    answer = echo(environ, body)
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer))),
                              ("X-Echo", "yes"), ("Connection", "keep-alive")])  # fmt: skip
    return [answer]
