"""Driving Debian's chromium through Playwright (recipes/browser-tests.md), shared by the browser tests.

Playwright's own browser download does not work here and is not needed: the tests launch
``/usr/bin/chromium`` with flags that keep it off the network, and are skipped (saying why) only when it
is absent. Screenshots are test artefacts under ``test-artifacts/`` (gitignored).

Playwright's sync API runs an event loop in the test's thread, where Django refuses database access;
:func:`in_thread` runs a database call (an agent, a check) in a worker thread meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.conf import settings
from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container: no user namespaces for the sandbox
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 15_000

# pytestmark of a browser test module.
needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: apt-get install -y chromium"),
]

T = TypeVar("T")


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched chromium (Playwright ``Browser``), closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, *, base_url: str, session_key: str | None = None):
    """A page in a fresh context at ``base_url``; with ``session_key`` it carries that Django session cookie."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    if session_key:
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session_key, "url": base_url}])
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def session_key_of(client) -> str:
    """The session cookie of a Django test client after ``client.force_login(user)``."""
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def in_thread(function: Callable[..., T], *args, **kwargs) -> T:
    """``function(*args, **kwargs)`` in a worker thread (database access while Playwright's loop runs here)."""

    def call() -> T:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


def screenshot(page, folder: str, name: str) -> Path:
    """A full-page PNG of ``page`` as ``test-artifacts/<folder>/<name>.png``."""
    path = ARTIFACTS / folder / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
