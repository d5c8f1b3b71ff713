"""The monitor in a real Chromium (issue 7, "Proof"): from the front page to a task and its failed jobs, a
facet click that narrows the list (in the URL and in the selection echo), plots that render as SVG, a task
killed by its owner from the task page, and screenshots of the main pages in test-artifacts/screenshots/.
"""

import datetime as dt

import pytest
from django.test import Client

from apps.accounts.identity import identity_for_user
from apps.core.timeutil import utcnow
from apps.jedi.models import Task
from apps.jedi.services.commando import commando_run
from apps.jedi.states import TaskStatus
from apps.jobs.services.job_errors import job_errors_record_many
from apps.jobs.states import JobStatus
from apps.workers.models import Worker
from tests.e2e.browser_support import chromium as launched_chromium
from tests.e2e.browser_support import in_thread, needs_chromium, new_page, screenshot, session_key_of
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory, UserFactory
from tests.jedi_factories import TaskDatasetFactory, TaskFactory

pytestmark = needs_chromium
SHOTS = "screenshots"


@pytest.fixture
def grid(transactional_db):
    """A task of its owner with failed jobs on two queues of one site, finished and running jobs, a worker."""
    owner = UserFactory()
    site = SiteFactory(name="BROWSER-SITE")
    for name in ("BROWSER_A", "BROWSER_B"):
        PandaQueueFactory(name=name, site=site)
    task = TaskFactory(
        taskname="mc23.browser.simul/",
        status=TaskStatus.RUNNING,
        username=identity_for_user(owner).compact_name,
        prodsourcelabel="managed",
        tasktype="prod",
    )
    TaskFactory(taskname="user.other.browser/", status=TaskStatus.RUNNING, username="Someone Else")
    TaskDatasetFactory(task=task, datasetname="mc23:mc23.EVNT.browser", nfiles=8, nfilestobeused=8, nfilesfinished=2)
    start = utcnow() - dt.timedelta(hours=2)
    common = {"jeditaskid": task.jeditaskid, "produsername": task.username, "starttime": start}
    failed = [
        JobFactory(jobstatus=JobStatus.FAILED, computingsite="BROWSER_A", piloterrorcode=1150, **common),
        JobFactory(jobstatus=JobStatus.FAILED, computingsite="BROWSER_A", piloterrorcode=1150, **common),
        JobFactory(jobstatus=JobStatus.FAILED, computingsite="BROWSER_B", exeerrorcode=65, **common),
    ]
    job_errors_record_many(job.pandaid for job in failed)
    for minutes in (20, 40):
        JobFactory(
            jobstatus=JobStatus.FINISHED,
            computingsite="BROWSER_A",
            endtime=start + dt.timedelta(minutes=minutes),
            cpuconsumptiontime=minutes * 50,
            maxpss=1_500_000,
            **common,
        )
    JobFactory(jobstatus=JobStatus.RUNNING, computingsite="BROWSER_B", **common)
    Worker.objects.create(
        harvesterid="CERN_H",
        workerid=1,
        status="running",
        computingsite="BROWSER_A",
        submittime=start,
        lastupdate=start,
    )
    client = Client()
    client.force_login(owner)
    return {"task": task, "failed_on_b": failed[2], "session": session_key_of(client)}


def svg_shapes(page, scope: str) -> int:
    """How many visible drawn shapes (paths, rects, circles) the SVG charts inside ``scope`` hold."""
    shapes = page.locator(f"{scope} svg").locator("path, rect, circle")
    return sum(1 for i in range(shapes.count()) if shapes.nth(i).is_visible())


def open_facet(page, name: str):
    facet = page.locator(f'[data-testid="facets"] details[data-facet="{name}"]')
    if facet.get_attribute("open") is None:
        facet.locator("summary").click()
    return facet


def test_a_person_follows_a_task_to_its_failed_jobs_narrows_them_by_a_facet_and_the_owner_kills_it(live_server, grid):
    from playwright.sync_api import expect

    task_id = grid["task"].jeditaskid
    with launched_chromium() as browser:
        page = new_page(browser, base_url=live_server.url)

        # The front page: a job-state pie drawn as SVG, tasks by status.
        assert page.goto("/").ok
        assert svg_shapes(page, "main") > 0
        screenshot(page, SHOTS, "front")
        page.locator('[data-testid="tasks-by-status"] a[href="/tasks/?status=running"]').click()

        # The tasks list, then the task.
        page.wait_for_url("**/tasks/?status=running")
        expect(page.locator('[data-testid="selection"]')).to_contain_text("status=running")
        screenshot(page, SHOTS, "tasks")
        page.locator(f'[data-testid="tasks"] a[href="/task/{task_id}/"]').click()
        page.wait_for_url(f"**/task/{task_id}/")
        expect(page.get_by_test_id("task-status")).to_have_text("running")
        assert svg_shapes(page, "main") > 0  # job-state pie, progress and consumption plots
        screenshot(page, SHOTS, "task")

        # Its failed jobs.
        page.get_by_role("link", name="failed jobs").click()
        page.wait_for_url(f"**/jobs/?jeditaskid={task_id}&jobstatus=failed")
        expect(page.locator('[data-testid="selection"]')).to_contain_text("jobstatus=failed")
        expect(page.locator('[data-testid="jobs"] tbody tr')).to_have_count(3)
        screenshot(page, SHOTS, "jobs")

        # A facet click narrows them to one queue: in the URL and in the selection echo.
        open_facet(page, "computingsite").get_by_role("link", name="BROWSER_B", exact=True).click()
        page.wait_for_url("**computingsite=BROWSER_B**")
        assert f"jeditaskid={task_id}" in page.url and "jobstatus=failed" in page.url
        expect(page.locator('[data-testid="selection"]')).to_contain_text("computingsite=BROWSER_B")
        expect(page.locator('[data-testid="jobs"] tbody tr')).to_have_count(1)
        pandaid = grid["failed_on_b"].pandaid
        page.locator(f'[data-testid="jobs"] a[href="/job/{pandaid}/"]').click()
        page.wait_for_url(f"**/job/{pandaid}/")
        screenshot(page, SHOTS, "job")

        for name, path in (
            ("errors", "/errors/"),
            ("dash", "/dash/region/"),
            ("site", "/site/BROWSER-SITE/"),
            ("harvester", "/harvester/workers/"),
        ):
            assert page.goto(path).ok, path
            screenshot(page, SHOTS, name)
            if name == "errors":
                assert svg_shapes(page, "main") > 0  # errors by component, over time

        # The owner, logged in, kills the task from its page; once JEDI's TaskCommando ran, the page says so.
        own = new_page(browser, base_url=live_server.url, session_key=grid["session"])
        own.goto(f"/task/{task_id}/")
        own.locator('button[data-action="kill"]').click()
        expect(own.locator("main")).to_contain_text("command=kill is registered")
        in_thread(commando_run)
        status = in_thread(lambda: Task.objects.get(jeditaskid=task_id).status)
        own.goto(f"/task/{task_id}/")
        expect(own.get_by_test_id("task-status")).to_have_text(status)

    assert status in (TaskStatus.ABORTING, TaskStatus.ABORTED)
