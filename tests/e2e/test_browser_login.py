"""A person logs in to the monitor in a real Chromium through the development provider, sees their own
tasks on their user page (``/user/<compact name>/``), and logs out (issue 4, "Proof").

Screenshots of each step go to test-artifacts/browser-login/. Runs with Debian's chromium; skipped, saying
so, only when it is absent (tests/e2e/browser_support.py).
"""

import pytest

from apps.accounts.models import User
from tests.accounts.browser_support import dev_provider_on
from tests.e2e.browser_support import chromium, needs_chromium, new_page, screenshot
from tests.jedi_factories import TaskFactory

pytestmark = needs_chromium
FOLDER = "browser-login"


@pytest.fixture
def monitor(live_server, settings, tmp_path, transactional_db):
    dev_provider_on(settings, tmp_path, live_server.url)
    return live_server


def test_a_person_logs_in_through_the_provider_sees_their_tasks_and_logs_out(monitor):
    from playwright.sync_api import expect

    # Alice Atlas's compact PanDA name (clean_user_id of her DN) owns this task; someone else owns the other.
    TaskFactory(taskname="user.alice.browser.001/", username="Alice Atlas", userdn="Alice Atlas/CN=nickname:alice")
    TaskFactory(taskname="user.bob.browser.001/", username="Bob Atlas", userdn="Bob Atlas/CN=nickname:bob")

    # Playwright's sync API runs an event loop in this thread: no database access inside this block.
    with chromium() as browser:
        page = new_page(browser, base_url=monitor.url)
        page.goto("/")
        expect(page.locator(".account")).to_contain_text("Log in")
        screenshot(page, FOLDER, "1-anonymous")

        page.get_by_role("link", name="Log in").click()
        page.wait_for_url("**/idp/authorize**")
        page.get_by_label("Alice Atlas").check()
        screenshot(page, FOLDER, "2-provider")
        page.get_by_role("button", name="Log in").click()

        page.wait_for_url(monitor.url + "/")
        expect(page.get_by_test_id("account-user")).to_have_text("alice")
        expect(page.locator(".account")).to_contain_text("Log out")
        screenshot(page, FOLDER, "3-logged-in")

        page.goto("/user/Alice%20Atlas/")
        expect(page.locator("main")).to_contain_text("user.alice.browser.001/")
        expect(page.locator("main")).not_to_contain_text("user.bob.browser.001/")
        expect(page.get_by_test_id("account-user")).to_have_text("alice")
        screenshot(page, FOLDER, "4-own-tasks")

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(monitor.url + "/")
        expect(page.locator(".account")).to_contain_text("Log in")
        expect(page.locator(".account")).not_to_contain_text("Log out")
        logged_out = screenshot(page, FOLDER, "5-logged-out")

    alice = User.objects.get(username="alice")
    assert alice.external_identities.get().issuer == monitor.url + "/idp"
    assert logged_out.stat().st_size > 0
