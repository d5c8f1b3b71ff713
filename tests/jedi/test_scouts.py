from datetime import timedelta

import pytest

from apps.core.timeutil import utcnow
from apps.jedi.models import DatasetContent, Task
from apps.jedi.services.generator import job_generator_run
from apps.jedi.services.scouts import percentile
from apps.jedi.states import TaskStatus
from apps.jobs.models import Job
from tests.jedi.generation import generating_task, use_broker

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _broker(settings):
    use_broker(settings)


def scouting_task(n_files=40, **fields) -> Task:
    task = generating_task(n_files, splitrule="NF=2,US=1", **fields)
    job_generator_run()
    task.refresh_from_db()
    assert task.status == TaskStatus.SCOUTING
    return task


def finish(
    jobs, *, walltime=1000, nevents=200, maxpss_mb=1500, output_bytes=200 * 1024 * 50, cpu=900, status="finished"
):
    end = utcnow()
    Job.objects.filter(pk__in=[job.pk for job in jobs]).update(
        jobstatus=status,
        starttime=end - timedelta(seconds=walltime),
        endtime=end,
        nevents=nevents,
        maxpss=maxpss_mb * 1024,
        outputfilebytes=output_bytes,
        cpuconsumptiontime=cpu,
    )


def scouts_of(task):
    return list(Job.objects.filter(jeditaskid=task.jeditaskid, specialhandling="sj").order_by("pandaid"))


def test_the_task_keeps_scouting_until_half_of_the_scouts_finished():
    task = scouting_task()
    finish(scouts_of(task)[:4])

    assert job_generator_run().jobs == 0

    task.refresh_from_db()
    assert task.status == TaskStatus.SCOUTING and task.scoutmetricstime is None


def test_half_the_scouts_finished_starts_the_avalanche_with_measured_metrics():
    task = scouting_task(basewalltime=100, baseramcount=500, cpuefficiency=100)
    finish(scouts_of(task)[:5], walltime=1100, nevents=200, maxpss_mb=1500, output_bytes=200 * 1024 * 50)

    summary = job_generator_run()

    task.refresh_from_db()
    assert task.status == TaskStatus.RUNNING and task.scoutmetricstime is not None
    # (1100 - 100) s x corepower 10 x 1 core x 1.0 x 1.5 / 200 events
    assert task.cputime == pytest.approx(75.0) and task.cputimeunit == "HS06sPerEvent"
    assert task.ramcount == 1100 and task.ramunit == "MBPerCore"  # (1500 - 500) MB x 1.1
    assert task.outdiskcount == pytest.approx(50.0) and task.outdiskunit == "kB"
    assert task.walltime == 1100
    assert summary.jobs == 10  # the 20 remaining files, 2 per job
    rest = Job.objects.filter(jeditaskid=task.jeditaskid).exclude(specialhandling="sj")
    assert rest.count() == 10 and set(rest.values_list("specialhandling", flat=True)) == {None}
    assert {job.currentpriority for job in rest} == {task.currentpriority}
    assert {job.minramcount for job in rest} == {1100 + 500}
    assert not DatasetContent.objects.filter(task=task, type="input", status="ready").exists()


def test_scouts_that_mostly_failed_exhaust_the_task():
    task = scouting_task()
    scouts = scouts_of(task)
    finish(scouts[:3])
    finish(scouts[3:], status="failed")

    summary = job_generator_run()

    task.refresh_from_db()
    assert summary.exhausted == 1
    assert task.status == TaskStatus.EXHAUSTED and task.errordialog == "only 3 of 10 scout jobs succeeded"
    assert Job.objects.filter(jeditaskid=task.jeditaskid).count() == 10


def test_production_scouts_with_a_very_low_cpu_efficiency_exhaust_the_task():
    task = scouting_task(prodsourcelabel="managed", tasktype="prod")
    finish(scouts_of(task), walltime=3600, cpu=60)

    job_generator_run()

    task.refresh_from_db()
    assert task.status == TaskStatus.EXHAUSTED
    assert "CPU time" in task.errordialog


def test_analysis_scouts_are_not_judged_on_efficiency():
    task = scouting_task()
    finish(scouts_of(task), walltime=3600, cpu=60)

    job_generator_run()

    task.refresh_from_db()
    assert task.status == TaskStatus.RUNNING


def test_percentiles_are_nearest_rank():
    assert percentile([1, 2, 3, 4], 75) == 3
    assert percentile([5], 95) == 5
    assert percentile(list(range(1, 101)), 95) == 95


def test_scouts_killed_by_a_reassign_do_not_count_as_failed_scouts():
    task = scouting_task()
    scouts = scouts_of(task)
    finish(scouts[:3])
    finish(scouts[3:5], status="failed")
    Job.objects.filter(pk__in=[job.pk for job in scouts[5:]]).update(jobstatus="closed", taskbuffererrorcode=51)

    summary = job_generator_run()

    task.refresh_from_db()
    assert summary.exhausted == 0
    assert task.status == TaskStatus.RUNNING and task.scoutmetricstime is not None


def test_the_avalanche_waits_for_the_scouts_still_running_when_others_were_cancelled():
    task = scouting_task()
    scouts = scouts_of(task)
    finish(scouts[:2])
    finish(scouts[2:4], status="failed")
    Job.objects.filter(pk__in=[job.pk for job in scouts[4:8]]).update(jobstatus="cancelled")

    job_generator_run()

    task.refresh_from_db()
    assert task.status == TaskStatus.SCOUTING


def test_scouts_that_mostly_failed_among_those_that_ran_exhaust_the_task_despite_killed_ones():
    task = scouting_task()
    scouts = scouts_of(task)
    finish(scouts[:1])
    finish(scouts[1:4], status="failed")
    Job.objects.filter(pk__in=[job.pk for job in scouts[4:]]).update(jobstatus="closed")

    job_generator_run()

    task.refresh_from_db()
    assert task.status == TaskStatus.EXHAUSTED and task.errordialog == "only 1 of 4 scout jobs that ran succeeded"


def test_when_every_scout_was_killed_the_task_goes_on_without_measurements():
    task = scouting_task()
    Job.objects.filter(pk__in=[job.pk for job in scouts_of(task)]).update(jobstatus="closed")

    job_generator_run()

    task.refresh_from_db()
    assert task.status == TaskStatus.RUNNING and task.cputime is None
