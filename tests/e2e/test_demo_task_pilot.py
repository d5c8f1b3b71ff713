"""A quick-start demo task, submitted as demo_tasks does on the demo grid, carried to ``done`` by the JEDI
agents (run in the test process, as the Celery beat runs them) while our pilot runs its jobs against the
live server."""

import zlib

import pytest

from apps.ddm.interface import ddm
from apps.ddm.models import Dataset
from apps.jedi.models import Task, TaskStatusLog
from apps.jedi.services.contents_feeder import contents_feeder_run
from apps.jedi.services.demo import DEMO_KINDS, demo_tasks_submit
from apps.jedi.services.feedback import feedback_run
from apps.jedi.services.generator import job_generator_run
from apps.jedi.services.postprocessor import postprocessor_run
from apps.jedi.services.refiner import refiner_run
from apps.jobs.models import FileType, Job, JobFile
from apps.jobs.services.adder import adder_run
from pilot.info.storage import deterministic_path

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_demo_task_is_carried_to_done_by_the_agents_and_real_pilots(demo_site):
    [score] = [kind for kind in DEMO_KINDS if kind.name == "score"]
    # 20 events: one-second payloads.
    result = demo_tasks_submit(kinds=[score], n_files=2, max_events=20, server_url=demo_site.server_url)
    outcome = result.submitted["score"]
    assert outcome.success, outcome.message
    task_id = outcome.jeditaskid

    refiner_run()
    contents_feeder_run()
    job_generator_run()  # the Setupper runs on commit (eager Celery in tests)
    jobs = Job.objects.filter(jeditaskid=task_id)
    assert sorted(jobs.values_list("jobstatus", "computingsite")) == [("activated", "DEMO_QUEUE")] * 2

    for _ in range(2):  # one job per pilot (timefloor 0)
        run = demo_site.run(timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
    adder_run()
    feedback_run()
    postprocessor_run()

    task = Task.objects.get(pk=task_id)
    assert task.status == "done", task.errordialog
    history = list(TaskStatusLog.objects.filter(jeditaskid=task_id).order_by("id").values_list("status", flat=True))
    assert history == ["registered", "defined", "ready", "running", "prepared", "done"]
    assert set(jobs.values_list("jobstatus", "piloterrorcode", "transexitcode")) == {("finished", 0, "0")}
    for f in JobFile.objects.filter(job__jeditaskid=task_id).exclude(type=FileType.INPUT):
        data = (demo_site.se_root / deterministic_path(f.scope, f.lfn)).read_bytes()
        assert f.status == "ready"
        assert (f.fsize, f.checksum) == (len(data), f"ad:{zlib.adler32(data) & 0xFFFFFFFF:08x}")
    for output in JobFile.objects.filter(job__jeditaskid=task_id, type=FileType.OUTPUT):
        hits = (demo_site.se_root / deterministic_path(output.scope, output.lfn)).read_bytes()
        assert hits.startswith(f"demo HITS of PandaID {output.job_id}: 20 events from EVNT.".encode())
    # the outputs are in DDM, in the task's HITS dataset, closed now that the task is done
    [hits_dataset] = Dataset.objects.filter(name__contains=".simul.HITS.")
    assert hits_dataset.state == "closed"
    assert len(ddm().list_files(f"{hits_dataset.scope}:{hits_dataset.name}")) == 2
