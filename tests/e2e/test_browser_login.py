"""A person logs in to the monitor in a real Chromium through the development provider, sees their own
tasks on their user page (``/user/<compact name>/``), and logs out (issue 4,
"Proof"). Screenshots of each step go to test-artifacts/browser-login/.

Runs with Debian's chromium (``apt-get install chromium``); skipped, saying so, only when it is absent.
"""

from pathlib import Path

import pytest

from apps.accounts.models import User
from tests.accounts.browser_support import dev_provider_on
from tests.jedi_factories import TaskFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser-login"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: apt-get install -y chromium"),
]


@pytest.fixture
def monitor(live_server, settings, tmp_path, transactional_db):
    dev_provider_on(settings, tmp_path, live_server.url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return live_server


def test_a_person_logs_in_through_the_provider_sees_their_tasks_and_logs_out(monitor):
    from playwright.sync_api import expect, sync_playwright

    # Alice Atlas's compact PanDA name (clean_user_id of her DN) owns this task; someone else owns the other.
    TaskFactory(taskname="user.alice.browser.001/", username="Alice Atlas", userdn="Alice Atlas/CN=nickname:alice")
    TaskFactory(taskname="user.bob.browser.001/", username="Bob Atlas", userdn="Bob Atlas/CN=nickname:bob")

    # Playwright's sync API runs an event loop in this thread: no database access inside this block.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = chromium.new_page()
        page.set_default_timeout(20_000)
        try:
            page.goto(monitor.url + "/")
            expect(page.locator(".account")).to_contain_text("Log in")
            page.screenshot(path=str(ARTIFACTS / "1-anonymous.png"))

            page.get_by_role("link", name="Log in").click()
            page.wait_for_url("**/idp/authorize**")
            page.get_by_label("Alice Atlas").check()
            page.screenshot(path=str(ARTIFACTS / "2-provider.png"))
            page.get_by_role("button", name="Log in").click()

            page.wait_for_url(monitor.url + "/")
            expect(page.get_by_test_id("account-user")).to_have_text("alice")
            expect(page.locator(".account")).to_contain_text("Log out")
            page.screenshot(path=str(ARTIFACTS / "3-logged-in.png"))

            page.goto(monitor.url + "/user/Alice%20Atlas/")
            expect(page.locator("main")).to_contain_text("user.alice.browser.001/")
            expect(page.locator("main")).not_to_contain_text("user.bob.browser.001/")
            expect(page.get_by_test_id("account-user")).to_have_text("alice")
            page.screenshot(path=str(ARTIFACTS / "4-own-tasks.png"), full_page=True)

            page.get_by_role("button", name="Log out").click()
            page.wait_for_url(monitor.url + "/")
            expect(page.locator(".account")).to_contain_text("Log in")
            expect(page.locator(".account")).not_to_contain_text("Log out")
            page.screenshot(path=str(ARTIFACTS / "5-logged-out.png"))
        finally:
            chromium.close()

    alice = User.objects.get(username="alice")
    assert alice.external_identities.get().issuer == monitor.url + "/idp"
    assert (ARTIFACTS / "5-logged-out.png").stat().st_size > 0
