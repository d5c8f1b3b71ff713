import json
import threading
import zlib
from datetime import timedelta

import pytest
from django.db import connection

from apps.core.timeutil import utcnow
from apps.ddm.interface import UnknownDataset, ddm
from apps.ddm.models import DataFile, Dataset, Replica
from apps.ddm.names import deterministic_path
from apps.ddm.services.rules import rules_process
from apps.jobs.models import FileType, Job, JobFile, JobMetadata, JobOutputReport, JobStatusLog
from apps.jobs.services import adder
from apps.jobs.services.activator import jobs_activate, jobs_setup
from apps.jobs.services.adder import adder_run
from apps.jobs.services.output_registration import job_files_register
from tests.ddm.storage import local_endpoint
from tests.factories import JobFactory, PandaQueueFactory, SiteFactory, job_with_files

pytestmark = pytest.mark.django_db

BAD_ENTRY = "Could not get GUID/LFN/MD5/FSIZE/SURL from pilot JSON"


def holding_job(**fields) -> Job:
    return job_with_files(jobstatus="holding", **fields)


def files_of(job, *types):
    return list(JobFile.objects.filter(job=job, type__in=types).order_by("row_id"))


def entry(n: int = 0, **overrides) -> dict:
    value = {
        "guid": f"00000000-0000-0000-0000-00000000000{n}",
        "fsize": 1000 + n,
        "adler32": f"0a1b2c3{n}",
        "surl": f"file:///data/se/file{n}",
        "endpoint": "SITE_DATADISK",
    }
    value.update(overrides)
    return {key: item for key, item in value.items() if item is not None}


def full_report(job) -> dict:
    return {f.lfn: entry(i) for i, f in enumerate(files_of(job, FileType.OUTPUT, FileType.LOG))}


def report(job, final_status="finished", data=None) -> JobOutputReport:
    text = data if isinstance(data, str) else json.dumps(full_report(job) if data is None else data)
    return JobOutputReport.objects.create(job=job, attemptnr=job.attemptnr, final_status=final_status, data=text)


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def finalisations(job):
    return list(
        JobStatusLog.objects.filter(pandaid=job.pandaid, oldstatus="holding").values_list("jobstatus", flat=True)
    )


def test_a_finished_job_with_a_complete_report_is_finished_and_its_outputs_registered():
    job = holding_job(n_outputs=2)
    rep = report(job)

    summary = adder_run()

    job = fresh(job)
    assert job.jobstatus == "finished"
    assert job.endtime is not None
    assert finalisations(job) == ["finished"]
    assert fresh(rep).status == "done"
    for i, f in enumerate(files_of(job, FileType.OUTPUT, FileType.LOG)):
        assert (f.status, f.guid, f.fsize, f.checksum) == ("ready", entry(i)["guid"], 1000 + i, f"ad:0a1b2c3{i}")
        assert (f.surl, f.endpoint) == (f"file:///data/se/file{i}", "SITE_DATADISK")
    assert {f.status for f in files_of(job, FileType.INPUT)} == {"ready"}
    assert (summary.claimed, summary.finished) == (1, 1)
    assert str(summary).startswith("adder: claimed=1 finished=1")


def test_an_md5sum_is_stored_as_md5_prefixed_checksum():
    job = holding_job(n_outputs=1)
    out, log_file = files_of(job, FileType.OUTPUT, FileType.LOG)
    md5 = "0123456789abcdef0123456789abcdef"
    report(job, data={out.lfn: entry(0, adler32=None, md5sum=md5), log_file.lfn: entry(1)})

    adder_run()

    out = fresh(out)
    assert (out.status, out.checksum, out.md5sum) == ("ready", f"md5:{md5}", md5)
    assert fresh(job).jobstatus == "finished"


@pytest.mark.parametrize(
    "broken",
    [
        {"guid": None},
        {"guid": ""},
        {"fsize": None},
        {"fsize": "big"},
        {"fsize": -1},
        {"adler32": None},
        {"adler32": "not-hex"},
        {"adler32": None, "md5sum": "1234"},
        {"adler32": None, "md5sum": "z" * 32},
    ],
)
def test_a_finished_report_with_an_incomplete_entry_fails_the_job_with_ddm_error_200(broken):
    job = holding_job(n_outputs=1)
    out, log_file = files_of(job, FileType.OUTPUT, FileType.LOG)
    report(job, data={out.lfn: entry(0, **broken), log_file.lfn: entry(1)})

    adder_run()

    job = fresh(job)
    assert (job.jobstatus, job.ddmerrorcode, job.ddmerrordiag) == ("failed", 200, BAD_ENTRY)
    assert fresh(out).status == "failed"
    assert fresh(log_file).status == "ready"
    assert {f.status for f in files_of(job, FileType.INPUT)} == {"failed"}


def test_an_incomplete_entry_for_a_file_the_job_does_not_know_also_fails_it():
    job = holding_job(n_outputs=1)
    data = full_report(job)
    data["stray.file"] = entry(5, guid=None)
    report(job, data=data)

    adder_run()

    assert (fresh(job).jobstatus, fresh(job).ddmerrordiag) == ("failed", BAD_ENTRY)


def test_a_valid_entry_for_an_unknown_file_or_an_input_is_ignored():
    job = holding_job(n_outputs=1)
    data = full_report(job)
    data["stray.file"] = entry(5)
    data[files_of(job, FileType.INPUT)[0].lfn] = {"guid": "whatever"}
    report(job, data=data)

    adder_run()

    assert fresh(job).jobstatus == "finished"


def test_an_unreadable_finished_report_fails_the_job_with_ddm_error_200():
    job = holding_job()
    report(job, data="{not json")

    adder_run()

    assert (fresh(job).jobstatus, fresh(job).ddmerrorcode, fresh(job).ddmerrordiag) == ("failed", 200, BAD_ENTRY)


@pytest.mark.parametrize("missing", [FileType.OUTPUT, FileType.LOG])
def test_a_finished_report_missing_an_expected_file_fails_the_job(missing):
    job = holding_job(n_outputs=1)
    gone = files_of(job, missing)[0]
    data = full_report(job)
    del data[gone.lfn]
    report(job, data=data)

    adder_run()

    job = fresh(job)
    assert (job.jobstatus, job.ddmerrorcode) == ("failed", 200)
    assert job.ddmerrordiag == f"expected output {gone.lfn} is missing in pilot JSON"
    assert fresh(gone).status == "failed"


def test_an_output_allowed_to_be_missing_becomes_nooutput():
    job = holding_job(n_outputs=2)
    first, second = files_of(job, FileType.OUTPUT)
    JobFile.objects.filter(pk=second.pk).update(dispatchdblocktoken="an")
    data = full_report(job)
    del data[second.lfn]
    report(job, data=data)

    adder_run()

    assert fresh(job).jobstatus == "finished"
    assert (fresh(first).status, fresh(second).status) == ("ready", "nooutput")


@pytest.mark.parametrize("eventservice", [1, 4])
def test_event_service_and_jumbo_jobs_are_exempt_from_the_missing_output_check(eventservice):
    job = holding_job(n_outputs=1, eventservice=eventservice)
    out = files_of(job, FileType.OUTPUT)[0]
    data = full_report(job)
    del data[out.lfn]
    report(job, data=data)

    adder_run()

    assert fresh(job).jobstatus == "finished"


@pytest.mark.parametrize(
    ("label", "input_status"), [("managed", "failed"), ("test", "failed"), ("user", "skipped"), ("panda", "skipped")]
)
def test_a_failed_job_registers_only_its_log(label, input_status):
    job = holding_job(n_outputs=2, prodsourcelabel=label)
    report(job, final_status="failed")

    adder_run()

    job = fresh(job)
    assert job.jobstatus == "failed"
    assert job.ddmerrorcode == 0
    assert finalisations(job) == ["failed"]
    assert {f.status for f in files_of(job, FileType.OUTPUT)} == {"failed"}
    (log_file,) = files_of(job, FileType.LOG)
    assert (log_file.status, log_file.checksum) == ("ready", "ad:0a1b2c32")
    assert {f.status for f in files_of(job, FileType.INPUT)} == {input_status}


def test_a_failed_job_with_an_empty_report_fails_its_log_too():
    job = holding_job()
    report(job, final_status="failed", data="")

    adder_run()

    assert fresh(job).jobstatus == "failed"
    assert {f.status for f in files_of(job, FileType.OUTPUT, FileType.LOG)} == {"failed"}


def test_a_killed_job_that_reports_failed_is_cancelled():
    job = holding_job(commandtopilot="tobekilled", taskbuffererrorcode=100)
    report(job, final_status="failed")

    summary = adder_run()

    assert fresh(job).jobstatus == "cancelled"
    assert finalisations(job) == ["cancelled"]
    assert summary.cancelled == 1


@pytest.mark.parametrize("code", [105, 106, 107])
def test_a_job_killed_to_be_retried_that_reports_failed_stays_failed(code):
    job = holding_job(commandtopilot="tobekilled", taskbuffererrorcode=code)
    report(job, final_status="failed")

    adder_run()

    assert fresh(job).jobstatus == "failed"


def test_a_killed_job_that_still_reports_finished_is_finished():
    job = holding_job(commandtopilot="tobekilled")
    report(job)

    adder_run()

    assert fresh(job).jobstatus == "finished"


def test_event_counts_come_from_the_job_report_sub_files():
    job = holding_job(n_outputs=2)
    first, second = files_of(job, FileType.OUTPUT)
    job_report = {
        "files": {
            "output": [
                {"subFiles": [{"name": first.lfn, "nentries": 500, "file_guid": "G1"}]},
                {"subFiles": [{"name": second.lfn, "nentries": 250}]},
            ]
        }
    }
    JobMetadata.objects.create(job=job, metadata=json.dumps(job_report))
    report(job)

    adder_run()

    assert (fresh(first).nevents, fresh(second).nevents) == (500, 250)
    assert fresh(files_of(job, FileType.LOG)[0]).nevents is None


def test_the_job_report_guid_fills_in_a_guid_the_output_report_lacks():
    job = holding_job(n_outputs=1)
    out = files_of(job, FileType.OUTPUT)[0]
    JobMetadata.objects.create(
        job=job,
        metadata=json.dumps(
            {"files": {"output": [{"subFiles": [{"name": out.lfn, "nentries": 7, "file_guid": "G-1"}]}]}}
        ),
    )
    data = full_report(job)
    data[out.lfn] = entry(0, guid=None)
    report(job, data=data)

    adder_run()

    assert fresh(job).jobstatus == "finished"
    assert (fresh(out).guid, fresh(out).nevents) == ("G-1", 7)


def test_a_managed_job_without_a_job_report_uses_the_job_level_event_count():
    job = holding_job(n_outputs=1, prodsourcelabel="managed", nevents=1234)
    report(job)

    adder_run()

    assert fresh(files_of(job, FileType.OUTPUT)[0]).nevents == 1234


def test_an_analysis_job_without_a_job_report_gets_no_event_count():
    job = holding_job(n_outputs=1, prodsourcelabel="user", nevents=1234)
    report(job)

    adder_run()

    assert fresh(files_of(job, FileType.OUTPUT)[0]).nevents is None


@pytest.mark.parametrize("status", ["finished", "failed", "cancelled", "closed"])
def test_a_job_already_final_is_left_alone_and_its_report_closed(status):
    job = job_with_files(jobstatus=status)
    rep = report(job)

    summary = adder_run()

    assert fresh(job).jobstatus == status
    assert not JobStatusLog.objects.filter(pandaid=job.pandaid).exclude(oldstatus=None).exists()
    assert fresh(rep).status == "done"
    assert {f.status for f in files_of(job, FileType.OUTPUT)} == {"unknown"}
    assert summary.skipped == 1


def test_a_report_of_another_attempt_is_closed_without_touching_the_job():
    job = holding_job(attemptnr=2)
    rep = JobOutputReport.objects.create(
        job=job, attemptnr=1, final_status="finished", data=json.dumps(full_report(job))
    )

    adder_run()

    assert fresh(job).jobstatus == "holding"
    assert fresh(rep).status == "done"


def test_running_the_adder_again_finalises_nothing_twice():
    job = holding_job()
    report(job)

    adder_run()
    summary = adder_run()

    assert summary.claimed == 0
    assert finalisations(job) == ["finished"]


def test_a_report_leased_by_another_worker_is_not_claimed_until_the_lease_expires():
    job = holding_job()
    rep = report(job)
    JobOutputReport.objects.filter(pk=rep.pk).update(locked_by="other", lock_expires=utcnow() + timedelta(minutes=5))

    assert adder_run().claimed == 0
    assert fresh(job).jobstatus == "holding"

    JobOutputReport.objects.filter(pk=rep.pk).update(lock_expires=utcnow() - timedelta(seconds=1))
    assert adder_run().finished == 1
    assert fresh(job).jobstatus == "finished"


def test_reports_are_processed_in_batches_up_to_the_run_limit():
    jobs = [holding_job() for _ in range(5)]
    for job in jobs:
        report(job)

    first = adder_run(batch_size=2, max_reports=3)
    second = adder_run(batch_size=2)

    assert (first.claimed, first.finished, second.claimed, second.finished) == (3, 3, 2, 2)
    assert all(fresh(job).jobstatus == "finished" for job in jobs)


def test_a_job_moved_out_of_holding_while_the_adder_worked_keeps_its_new_state(monkeypatch):
    job = holding_job()
    rep = report(job)
    real_plan = adder.adder_plan

    def plan_while_the_watcher_fails_the_job(**kwargs):
        plan = real_plan(**kwargs)
        Job.objects.filter(pk=job.pk).update(jobstatus="failed")
        return plan

    monkeypatch.setattr(adder, "adder_plan", plan_while_the_watcher_fails_the_job)

    summary = adder_run()

    assert fresh(job).jobstatus == "failed"
    assert finalisations(job) == []
    assert {f.status for f in files_of(job, FileType.OUTPUT, FileType.LOG)} == {"unknown"}
    assert fresh(rep).status == "done"
    assert summary.skipped == 1


def test_a_worker_whose_lease_was_taken_over_changes_nothing(monkeypatch):
    job = holding_job()
    rep = report(job)
    real_plan = adder.adder_plan

    def plan_while_another_worker_takes_the_lease(**kwargs):
        plan = real_plan(**kwargs)
        JobOutputReport.objects.filter(pk=rep.pk).update(locked_by="someone-else")
        return plan

    monkeypatch.setattr(adder, "adder_plan", plan_while_another_worker_takes_the_lease)

    summary = adder_run()

    assert fresh(job).jobstatus == "holding"
    assert fresh(rep).status == "pending"
    assert summary.lost == 1


def test_a_job_without_files_finishes_with_an_empty_report():
    job = JobFactory(jobstatus="holding")
    report(job, data={})

    adder_run()

    assert fresh(job).jobstatus == "finished"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lease_seconds", [300, 0])
def test_several_adders_at_once_finalise_each_of_100_jobs_exactly_once(lease_seconds):
    """A zero lease lets every worker steal every report at once: the done-under-lease rule must still hold."""
    jobs = [holding_job(n_inputs=1) for _ in range(100)]
    for job in jobs:
        report(job)
    workers = 4
    barrier = threading.Barrier(workers)
    summaries = []

    def work(name):
        try:
            barrier.wait()
            summaries.append(adder_run(batch_size=3, worker_name=name, lease_seconds=lease_seconds))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(f"adder-{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    leftover = adder_run()

    assert sum(summary.errors for summary in summaries) == 0
    assert sum(1 for summary in summaries if summary.finished) >= 2
    assert sum(summary.finished for summary in summaries) + leftover.finished == 100
    moves = JobStatusLog.objects.filter(pandaid__in=[job.pandaid for job in jobs], oldstatus="holding")
    assert sorted(moves.values_list("pandaid", flat=True)) == sorted(job.pandaid for job in jobs)
    assert set(moves.values_list("jobstatus", flat=True)) == {"finished"}
    assert set(JobOutputReport.objects.values_list("status", flat=True)) == {"done"}
    assert set(Job.objects.filter(pk__in=[job.pk for job in jobs]).values_list("jobstatus", flat=True)) == {"finished"}


# --- registration in the data-management catalogue -----------------------------------------


def test_the_outputs_and_log_of_a_finished_job_are_registered_in_their_datasets_with_a_replica():
    job = holding_job(n_outputs=2)
    report(job)

    adder_run()

    catalogue = ddm()
    outputs = catalogue.list_files("mc23:mc23.HITS.s1")
    assert [(f.lfn, f.guid, f.fsize, f.adler32) for f in outputs] == [
        (f.lfn, entry(i)["guid"], 1000 + i, f"0a1b2c3{i}") for i, f in enumerate(files_of(job, FileType.OUTPUT))
    ]
    (log_file,) = catalogue.list_files("mc23:mc23.log.s1")
    assert log_file.lfn == files_of(job, FileType.LOG)[0].lfn
    replicas = catalogue.list_replicas([("mc23", outputs[0].lfn)])[("mc23", outputs[0].lfn)]
    assert [(r.endpoint, r.state, r.pfn) for r in replicas] == [("SITE_DATADISK", "available", "file:///data/se/file0")]


def test_a_failed_job_registers_only_its_log_in_the_catalogue():
    job = holding_job(n_outputs=1)
    report(job, final_status="failed")

    adder_run()

    assert [f.lfn for f in ddm().list_files("mc23.log.s1")] == [files_of(job, FileType.LOG)[0].lfn]
    with pytest.raises(UnknownDataset):
        ddm().list_files("mc23.HITS.s1")


def test_registering_a_jobs_files_again_changes_nothing():
    job = holding_job(n_outputs=2)
    report(job)
    adder_run()
    files = files_of(job, FileType.OUTPUT, FileType.LOG)

    assert job_files_register(files) == 0

    assert (DataFile.objects.count(), Replica.objects.count()) == (3, 3)


def test_a_closed_output_dataset_fails_the_job_with_ddm_error_203_and_still_registers_the_log():
    ddm().register_dataset("mc23:mc23.HITS.s1")
    ddm().close_dataset("mc23:mc23.HITS.s1")
    job = holding_job(n_outputs=1)
    report(job)

    summary = adder_run()

    job = fresh(job)
    assert (job.jobstatus, job.ddmerrorcode, summary.failed) == ("failed", 203, 1)
    assert job.ddmerrordiag.startswith("could not register outputs in DDM: dataset mc23:mc23.HITS.s1 is closed")
    assert [f.status for f in files_of(job, FileType.OUTPUT, FileType.LOG)] == ["failed", "ready"]
    assert ddm().get_dataset("mc23.HITS.s1").nfiles == 0
    assert ddm().get_dataset("mc23.log.s1").nfiles == 1


def test_a_failed_job_whose_log_is_refused_keeps_its_outcome_and_records_ddm_error_203():
    ddm().register_dataset("mc23.log.s1", kind="container")
    job = holding_job(n_outputs=1)
    report(job, final_status="failed")

    adder_run()

    job = fresh(job)
    assert (job.jobstatus, job.ddmerrorcode) == ("failed", 203)
    assert "container" in job.ddmerrordiag


def test_a_job_moved_out_of_holding_meanwhile_leaves_nothing_in_the_catalogue(monkeypatch):
    job = holding_job()
    report(job)
    real_plan = adder.adder_plan

    def plan_while_the_watcher_fails_the_job(**kwargs):
        plan = real_plan(**kwargs)
        Job.objects.filter(pk=job.pk).update(jobstatus="failed")
        return plan

    monkeypatch.setattr(adder, "adder_plan", plan_while_the_watcher_fails_the_job)

    adder_run()

    assert (Dataset.objects.count(), DataFile.objects.count()) == (0, 0)


def test_outputs_of_a_finished_job_are_the_input_of_the_next_tasks_jobs(tmp_path):
    """Job 1 writes its output on SITE_A's storage; job 2 at QUEUE_A reads it there, job 3 at QUEUE_B gets a copy."""
    site_a = local_endpoint("SITE_A_DATADISK", tmp_path / "a")
    local_endpoint("SITE_B_DATADISK", tmp_path / "b")
    PandaQueueFactory(name="QUEUE_A", site=SiteFactory(name="SITE_A"))
    PandaQueueFactory(name="QUEUE_B", site=SiteFactory(name="SITE_B"))
    job = holding_job(n_outputs=1)
    (output,) = files_of(job, FileType.OUTPUT)
    data = b"HITS" * 500
    path = tmp_path / "a" / deterministic_path("mc23", output.lfn)
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    produced = entry(0, fsize=len(data), adler32=f"{zlib.adler32(data):08x}", surl=str(path), endpoint=site_a.name)
    report(job, data={output.lfn: produced, files_of(job, FileType.LOG)[0].lfn: entry(1)})
    adder_run()

    (listed,) = ddm().list_files("mc23.HITS.s1")
    next_jobs = []
    for queue in ("QUEUE_A", "QUEUE_B"):
        next_job = JobFactory(jobstatus="defined", computingsite=queue)
        JobFile.objects.create(job=next_job, type=FileType.INPUT, lfn=listed.lfn, scope=listed.scope, guid=listed.guid)
        next_jobs.append(next_job)

    assert jobs_setup() == (1, 1)
    rules_process()
    assert jobs_activate() == 1

    assert {fresh(j).jobstatus for j in next_jobs} == {"activated"}
    assert (tmp_path / "b" / deterministic_path("mc23", listed.lfn)).read_bytes() == data
