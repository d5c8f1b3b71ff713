import datetime as dt

import pytest

from apps.jobs.models import Job, JobMetadata, JobOutputReport, JobStatusLog, JobText
from apps.jobs.services import pilot_updates
from apps.jobs.services.pilot_updates import (
    Result,
    job_pilot_command,
    job_update_from_pilot,
    pilot_update_changes,
)
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

LONG_AGO = dt.datetime(2020, 1, 1, 12, 0, 0)
PILOT_HOLDING_DIAG = "set to holding by the pilot at 2020-01-01 12:00:00"

# states.md §3, one row per (stored state, state the pilot sent): result, state afterwards.
# "finished"/"failed" are the pilot's final update (stored as holding).
RULES = [
    # failed: alreadydone for every state the pilot can move it to
    *[
        ("failed", sent, Result.ALREADYDONE, "failed")
        for sent in ("holding", "transferring", "starting", "running", "finished", "failed")
    ],
    # transferring + final update: alreadydone
    ("transferring", "finished", Result.ALREADYDONE, "transferring"),
    ("transferring", "failed", Result.ALREADYDONE, "transferring"),
    # holding + final update when the final report was already seen: alreadydone
    ("holding", "finished", Result.ALREADYDONE, "holding"),
    ("holding", "failed", Result.ALREADYDONE, "holding"),
    # holding + the pilot's own holding heartbeat: no change
    ("holding", "holding", Result.UNCHANGED, "holding"),
    # merging: no change whatever is sent
    *[
        ("merging", sent, Result.UNCHANGED, "merging")
        for sent in ("running", "starting", "holding", "transferring", "finished", "failed")
    ],
    # no going back from holding / transferring
    ("holding", "running", Result.UNCHANGED, "holding"),
    ("holding", "starting", Result.UNCHANGED, "holding"),
    ("transferring", "running", Result.UNCHANGED, "transferring"),
    ("transferring", "starting", Result.UNCHANGED, "transferring"),
    ("transferring", "holding", Result.UNCHANGED, "transferring"),
    # running <- starting is kept running (fields still applied)
    ("running", "starting", Result.APPLIED, "running"),
    # holding -> transferring refused by the update guard
    ("holding", "transferring", Result.UNCHANGED, "holding"),
    # otherwise applied
    ("sent", "starting", Result.APPLIED, "starting"),
    ("sent", "running", Result.APPLIED, "running"),
    ("sent", "holding", Result.APPLIED, "holding"),
    ("sent", "finished", Result.APPLIED, "holding"),
    ("sent", "failed", Result.APPLIED, "holding"),
    ("starting", "starting", Result.APPLIED, "starting"),
    ("starting", "running", Result.APPLIED, "running"),
    ("starting", "holding", Result.APPLIED, "holding"),
    ("starting", "finished", Result.APPLIED, "holding"),
    ("starting", "failed", Result.APPLIED, "holding"),
    ("running", "running", Result.APPLIED, "running"),
    ("running", "holding", Result.APPLIED, "holding"),
    ("running", "transferring", Result.APPLIED, "transferring"),
    ("running", "finished", Result.APPLIED, "holding"),
    ("running", "failed", Result.APPLIED, "holding"),
    ("transferring", "transferring", Result.APPLIED, "transferring"),
]
NOT_ACTIVE = ["pending", "waiting", "defined", "assigned", "finished", "cancelled", "closed"]
SENT_STATES = ["running", "starting", "holding", "transferring", "finished", "failed"]


def update(job, state, **kwargs):
    kwargs.setdefault("attemptnr", job.attemptnr)
    return job_update_from_pilot(pandaid=job.pandaid, state=state, **kwargs)


def fresh(job) -> Job:
    return Job.objects.get(pk=job.pk)


def snapshot(job) -> dict:
    return Job.objects.filter(pk=job.pk).values().get()


@pytest.mark.parametrize(("stored", "sent", "result", "after"), RULES)
def test_every_update_rule_gives_its_answer_and_state(stored, sent, result, after):
    job = JobFactory(jobstatus=stored, modificationtime=LONG_AGO)

    outcome = update(job, sent)

    assert outcome.result == result
    assert fresh(job).jobstatus == after
    if result == Result.ALREADYDONE:
        assert outcome.command == "alreadydone"
    else:
        assert outcome.command is None


@pytest.mark.parametrize(("stored", "sent", "result", "after"), [r for r in RULES if r[2] != Result.APPLIED])
def test_refused_and_unchanged_updates_write_nothing(stored, sent, result, after):
    job = JobFactory(jobstatus=stored, modificationtime=LONG_AGO)
    before = snapshot(job)
    logs = JobStatusLog.objects.filter(pandaid=job.pandaid).count()

    update(job, sent, changes={"modificationhost": "node-1", "nevents": 7}, output_report='{"a": {}}')

    assert snapshot(job) == before
    assert JobStatusLog.objects.filter(pandaid=job.pandaid).count() == logs
    assert not JobOutputReport.objects.filter(job=job).exists()


@pytest.mark.parametrize("sent", SENT_STATES)
def test_an_unknown_pandaid_is_told_to_die(sent):
    outcome = job_update_from_pilot(pandaid=987654321, state=sent, attemptnr=1)

    assert (outcome.result, outcome.command) == (Result.TOBEKILLED, "tobekilled")


@pytest.mark.parametrize("stored", NOT_ACTIVE)
@pytest.mark.parametrize("sent", SENT_STATES)
def test_a_job_outside_the_active_group_is_told_to_die_and_left_alone(stored, sent):
    job = JobFactory(jobstatus=stored, modificationtime=LONG_AGO)
    before = snapshot(job)

    outcome = update(job, sent, changes={"modificationhost": "node-1"}, output_report="{}")

    assert (outcome.result, outcome.command) == (Result.TOBEKILLED, "tobekilled")
    assert snapshot(job) == before
    assert not JobOutputReport.objects.filter(job=job).exists()


@pytest.mark.parametrize("sent", SENT_STATES)
def test_an_attempt_number_mismatch_is_told_to_die_and_left_alone(sent):
    job = JobFactory(jobstatus="running", attemptnr=2, modificationtime=LONG_AGO)
    before = snapshot(job)

    outcome = update(job, sent, attemptnr=1, output_report="{}")

    assert (outcome.result, outcome.command) == (Result.TOBEKILLED, "tobekilled")
    assert snapshot(job) == before
    assert not JobOutputReport.objects.exists()


def test_an_update_without_attempt_number_is_not_checked_against_it():
    job = JobFactory(jobstatus="sent", attemptnr=3)

    outcome = job_update_from_pilot(pandaid=job.pandaid, state="running", attemptnr=None)

    assert outcome.result == Result.APPLIED
    assert fresh(job).jobstatus == "running"


@pytest.mark.parametrize("stored", ["sent", "starting", "running", "holding", "transferring", "merging"])
def test_a_different_non_numeric_batch_id_is_told_to_die_with_sup_error_1(stored):
    job = JobFactory(jobstatus=stored, batchid="condor.ce1.123.0", modificationtime=LONG_AGO)

    outcome = update(job, "running", changes={"batchid": "slurm.other.77"})

    assert (outcome.result, outcome.command) == (Result.TOBEKILLED, "tobekilled")
    job = fresh(job)
    assert job.jobstatus == stored
    assert job.batchid == "condor.ce1.123.0"
    assert job.modificationtime == LONG_AGO
    assert job.superrorcode == 1
    assert job.superrordiag == "got an update request with invalid batchID=slurm.other.77"


@pytest.mark.parametrize(
    ("stored", "sent"),
    [("12345", "condor.x"), ("condor.x", "12345"), ("123.0", "456.0"), (None, "condor.x"), ("condor.x", "condor.x")],
)
def test_numeric_missing_or_equal_batch_ids_are_accepted(stored, sent):
    job = JobFactory(jobstatus="sent", batchid=stored)

    outcome = update(job, "running", changes={"batchid": sent})

    assert outcome.result == Result.APPLIED
    job = fresh(job)
    assert (job.jobstatus, job.batchid, job.superrorcode) == ("running", sent, 0)


def test_a_final_update_after_the_pilots_own_holding_is_applied_and_stores_the_report():
    job = JobFactory(jobstatus="holding", jobdispatchererrordiag=PILOT_HOLDING_DIAG, statechangetime=LONG_AGO)

    outcome = update(job, "finished", output_report='{"out.root": {"guid": "G"}}')

    assert outcome.result == Result.APPLIED
    job = fresh(job)
    assert job.jobstatus == "holding"
    assert job.jobdispatchererrordiag is None
    assert job.statechangetime > LONG_AGO
    report = JobOutputReport.objects.get(job=job)
    assert (report.final_status, report.data) == ("finished", '{"out.root": {"guid": "G"}}')


def test_the_pilots_holding_heartbeat_sets_the_dispatcher_diag_and_the_final_update_clears_it():
    job = JobFactory(jobstatus="running", jobdispatchererrordiag="old diag")

    update(job, "holding")

    job = fresh(job)
    assert job.jobstatus == "holding"
    assert job.jobdispatchererrordiag.startswith("set to holding by the pilot at ")
    assert dt.datetime.strptime(job.jobdispatchererrordiag[-19:], "%Y-%m-%d %H:%M:%S")
    assert not JobOutputReport.objects.exists()

    update(job, "failed", output_report="{}")

    job = fresh(job)
    assert (job.jobstatus, job.jobdispatchererrordiag) == ("holding", None)
    assert JobOutputReport.objects.get(job=job).final_status == "failed"


def test_the_pilots_transferring_sets_the_dispatcher_diag():
    job = JobFactory(jobstatus="running")

    update(job, "transferring")

    assert fresh(job).jobdispatchererrordiag.startswith("set to transferring by the pilot at ")


def test_a_state_change_writes_one_status_log_row():
    job = JobFactory(jobstatus="sent", computingsite="QUEUE_X", prodsourcelabel="user")

    update(job, "running")

    row = JobStatusLog.objects.get(pandaid=job.pandaid)
    assert (row.oldstatus, row.jobstatus, row.computingsite, row.prodsourcelabel) == (
        "sent",
        "running",
        "QUEUE_X",
        "user",
    )


def test_a_same_state_heartbeat_writes_no_status_log_row_and_keeps_state_change_time():
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO, statechangetime=LONG_AGO)

    outcome = update(job, "running", changes={"nevents": 10, "modificationhost": "wn01"})

    assert outcome.result == Result.APPLIED
    assert not JobStatusLog.objects.filter(pandaid=job.pandaid).exists()
    job = fresh(job)
    assert job.modificationtime > LONG_AGO
    assert job.statechangetime == LONG_AGO
    assert (job.nevents, job.modificationhost) == (10, "wn01")


def test_running_kept_running_on_a_late_starting_updates_fields_but_not_the_state():
    job = JobFactory(jobstatus="running", modificationtime=LONG_AGO, statechangetime=LONG_AGO)

    update(job, "starting", changes={"modificationhost": "wn02"})

    job = fresh(job)
    assert (job.jobstatus, job.modificationhost) == ("running", "wn02")
    assert job.modificationtime > LONG_AGO
    assert job.statechangetime == LONG_AGO
    assert not JobStatusLog.objects.filter(pandaid=job.pandaid).exists()


def test_a_plain_running_heartbeat_costs_one_statement(django_assert_num_queries):
    job = JobFactory(jobstatus="running", specialhandling="dm", commandtopilot="tobekilled")
    changes = pilot_update_changes({"node": "wn01", "cpuConsumptionTime": "12", "maxRSS": "1000", "batchID": "1"})

    with django_assert_num_queries(1):
        outcome = update(job, "running", changes=changes)

    assert (outcome.result, outcome.command) == (Result.APPLIED, "debug,tobekilled")
    stored = fresh(job)
    assert (stored.modificationhost, stored.cpuconsumptiontime, stored.maxrss) == ("wn01", 12, 1000)


# What pilot 3.11 sends with every heartbeat, as its JSON body decodes (exact ints, floats and strings).
PILOT_HEARTBEAT = {
    "node": "wn0001.example.org", "schedulerID": "harvester-1", "pilotID": "7|PR|3.11.2|7", "batchID": "1000001",
    "startTime": 1767225600.0, "coreCount": 1, "cpuConsumptionUnit": "s+AMD EPYC 7B13 2-Core Processor",
    "cpuConsumptionTime": 42, "cpuConversionFactor": 1.0, "meanCoreCount": 1.5, "cpu_architecture_level": "x86-64-v3",
    "nEvents": 0, "jobMetrics": "coreCount=1 leak=12 chi2=0.5", "maxRSS": 1850000, "maxVMEM": 2900000, "maxSWAP": 0,
    "maxPSS": 1900000, "avgRSS": 1500000, "avgVMEM": 2600000, "avgSWAP": 0, "avgPSS": 1550000,
    "totRCHAR": 1048576, "totWCHAR": 524288, "totRBYTES": 2097152, "totWBYTES": 1048576,
    "rateRCHAR": 1024, "rateWCHAR": 512, "rateRBYTES": 2048, "rateWBYTES": 1024, "transExitCode": 0,
}  # fmt: skip


def test_the_one_statement_heartbeat_stores_what_the_orm_would_store(django_assert_num_queries):
    heartbeat, reference = JobFactory.create_batch(2, jobstatus="running", modificationtime=LONG_AGO)
    changes = pilot_update_changes(PILOT_HEARTBEAT)
    assert {type(value) for value in changes.values()} == {str, int, float, dt.datetime}

    with django_assert_num_queries(1):
        outcome = update(heartbeat, "running", changes=changes)
    Job.objects.filter(pk=reference.pk).update(**changes)

    assert outcome.result == Result.APPLIED
    ignored = {"pandaid", "modificationtime", "creationtime", "jobname", "jeditaskid"}
    stored, expected = snapshot(heartbeat), snapshot(reference)
    assert {k: v for k, v in stored.items() if k not in ignored} == {
        k: v for k, v in expected.items() if k not in ignored
    }
    assert (stored["maxrss"], stored["totrchar"], stored["memory_leak"], stored["meancorecount"]) == (
        1850000,
        1024,
        12,
        1.5,
    )
    assert stored["modificationtime"] > LONG_AGO


def test_json_numbers_convert_like_their_text_and_non_finite_floats_are_ignored():
    numbers = {key: value for key, value in PILOT_HEARTBEAT.items() if type(value) in (int, float)}

    assert pilot_update_changes(numbers) == pilot_update_changes({key: str(v) for key, v in numbers.items()})
    assert pilot_update_changes({"maxRSS": float("inf"), "meanCoreCount": float("nan"), "nEvents": None}) == {}


def test_a_heartbeat_with_the_wrong_attempt_leaves_the_fast_path_and_is_refused():
    job = JobFactory(jobstatus="running", attemptnr=2, modificationtime=LONG_AGO)

    outcome = update(job, "running", attemptnr=1, changes={"modificationhost": "wn01"})

    assert outcome.command == "tobekilled"
    assert fresh(job).modificationtime == LONG_AGO


# --- timestamps -------------------------------------------------------------------------------


def test_modification_time_is_the_heartbeat_of_every_applied_update():
    job = JobFactory(jobstatus="sent", modificationtime=LONG_AGO)

    update(job, "starting")

    assert fresh(job).modificationtime > LONG_AGO


@pytest.mark.parametrize(("stored", "sent"), [("sent", "running"), ("starting", "running")])
def test_start_time_is_set_on_entering_running_when_the_pilot_sent_none(stored, sent):
    job = JobFactory(jobstatus=stored, starttime=LONG_AGO)

    update(job, sent)

    assert fresh(job).starttime > LONG_AGO


def test_start_time_sent_by_the_pilot_wins():
    job = JobFactory(jobstatus="starting")
    changes = pilot_update_changes({"startTime": "1700000000"})

    update(job, "running", changes=changes)

    assert fresh(job).starttime == dt.datetime(2023, 11, 14, 22, 13, 20)


def test_start_time_is_not_reset_by_running_heartbeats():
    job = JobFactory(jobstatus="running", starttime=LONG_AGO)

    update(job, "running")

    assert fresh(job).starttime == LONG_AGO


@pytest.mark.parametrize(
    ("stored", "sent"),
    [("running", "finished"), ("sent", "failed"), ("running", "holding"), ("running", "transferring")],
)
def test_end_time_is_set_on_entering_holding_or_transferring_from_running(stored, sent):
    job = JobFactory(jobstatus=stored, endtime=None)

    update(job, sent)

    assert fresh(job).endtime is not None


def test_end_time_already_set_is_kept():
    job = JobFactory(jobstatus="running", endtime=LONG_AGO)

    update(job, "finished")

    assert fresh(job).endtime == LONG_AGO


def test_end_time_sent_by_the_pilot_is_stored():
    job = JobFactory(jobstatus="running")

    update(job, "failed", changes=pilot_update_changes({"endTime": "2024-05-01 10:00:00"}))

    assert fresh(job).endtime == dt.datetime(2024, 5, 1, 10, 0, 0)


def test_end_time_is_not_set_by_a_running_heartbeat():
    job = JobFactory(jobstatus="running", endtime=None)

    update(job, "running")

    assert fresh(job).endtime is None


def test_the_final_update_bumps_state_change_time():
    job = JobFactory(jobstatus="running", statechangetime=LONG_AGO)

    update(job, "finished")

    assert fresh(job).statechangetime > LONG_AGO


# --- output report ----------------------------------------------------------------------------


@pytest.mark.parametrize("final", ["finished", "failed"])
def test_the_final_update_stores_the_output_report_keyed_by_pandaid_and_attempt(final):
    job = JobFactory(jobstatus="running", attemptnr=4)

    update(job, final, output_report='{"log.tgz": {"guid": "X", "fsize": 1, "adler32": "0a0b0c0d"}}')

    report = JobOutputReport.objects.get(job=job)
    assert (report.attemptnr, report.final_status, report.status) == (4, final, "pending")
    assert report.data == '{"log.tgz": {"guid": "X", "fsize": 1, "adler32": "0a0b0c0d"}}'


def test_the_output_report_is_stored_only_once_when_the_final_update_is_repeated():
    job = JobFactory(jobstatus="running")

    first = update(job, "finished", output_report='{"first": {}}')
    second = update(job, "finished", output_report='{"second": {}}')

    assert (first.result, second.result) == (Result.APPLIED, Result.ALREADYDONE)
    assert second.command == "alreadydone"
    assert list(JobOutputReport.objects.filter(job=job).values_list("data", flat=True)) == ['{"first": {}}']


def test_heartbeats_store_no_output_report():
    job = JobFactory(jobstatus="running")

    update(job, "running", output_report='{"x": {}}')
    update(job, "holding", output_report='{"x": {}}')

    assert not JobOutputReport.objects.exists()


def test_a_killed_job_reporting_failed_is_applied_stores_its_report_and_hears_tobekilled():
    job = JobFactory(jobstatus="running", commandtopilot="tobekilled")

    outcome = update(job, "failed", output_report="{}", changes={"piloterrorcode": 1144})

    assert (outcome.result, outcome.command) == (Result.APPLIED, "tobekilled")
    assert fresh(job).jobstatus == "holding"
    assert JobOutputReport.objects.filter(job=job, final_status="failed").exists()


# --- job report, pilot log, stdout ------------------------------------------------------------


def test_the_job_report_is_stored_once_first_one_wins():
    job = JobFactory(jobstatus="running")

    update(job, "running", metadata='{"files": 1}')
    update(job, "finished", metadata='{"files": 2}')

    assert JobMetadata.objects.get(job=job).metadata == '{"files": 1}'


def test_a_job_report_for_an_unknown_job_fails_the_update():
    outcome = job_update_from_pilot(pandaid=424242, state="finished", metadata='{"a": 1}')

    assert (outcome.result, outcome.status_code) == (Result.METADATA_FAILED, 30)


def test_a_job_report_for_an_archived_job_is_skipped_and_the_job_told_to_die():
    job = JobFactory(jobstatus="finished")

    outcome = update(job, "finished", metadata='{"a": 1}')

    assert outcome.result == Result.TOBEKILLED
    assert not JobMetadata.objects.exists()


def test_pilot_log_and_stdout_are_stored_per_job_and_stdout_is_truncated():
    job = JobFactory(jobstatus="running")

    update(job, "running", pilot_log="pilot says hi", stdout="x" * 5000)
    update(job, "running", stdout="second tail")

    texts = dict(JobText.objects.filter(job=job).values_list("kind", "text"))
    assert texts == {"pilotlog": "pilot says hi", "stdout": "second tail"}


def test_stdout_longer_than_2048_characters_is_cut():
    job = JobFactory(jobstatus="running")

    update(job, "running", stdout="y" * 5000)

    assert JobText.objects.get(job=job, kind="stdout").text == "y" * 2048


# --- command field (protocol.md §6.3) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("specialhandling", "commandtopilot", "command"),
    [
        (None, None, None),
        ("", "", None),
        ("dm", None, "debug"),
        ("ddm,dm,sj", None, "debug"),
        ("ddm", None, None),
        (None, "tobekilled", "tobekilled"),
        ("dm", "tobekilled", "debug,tobekilled"),
        ("dm", "tail -30 payload.stdout", "debug,tail -30 payload.stdout"),
    ],
)
def test_the_command_field_is_debug_then_command_to_pilot(specialhandling, commandtopilot, command):
    job = JobFactory(jobstatus="running", specialhandling=specialhandling, commandtopilot=commandtopilot)

    assert update(job, "running").command == command
    assert job_pilot_command(specialhandling=specialhandling, commandtopilot=commandtopilot) == command


def test_a_no_change_answer_still_carries_the_normal_command():
    job = JobFactory(jobstatus="merging", specialhandling="dm", commandtopilot="tobekilled")

    outcome = update(job, "running")

    assert (outcome.result, outcome.command) == (Result.UNCHANGED, "debug,tobekilled")


# --- races ------------------------------------------------------------------------------------


def test_a_heartbeat_that_lost_a_race_is_decided_again_on_the_new_state():
    job = JobFactory(jobstatus="running")
    stale_row = Job.objects.filter(pk=job.pk).values(*pilot_updates._RULE_COLUMNS).get()
    Job.objects.filter(pk=job.pk).update(jobstatus="holding")  # the final update won meanwhile

    outcome = pilot_updates._update(
        stale_row,
        requested="running",
        state="running",
        final=False,
        attemptnr=None,
        fields={},
        output_report=None,
        now=pilot_updates.utcnow(),
    )

    assert outcome.result == Result.UNCHANGED
    assert fresh(job).jobstatus == "holding"


def test_a_state_change_that_lost_a_race_is_decided_again_on_the_new_state():
    job = JobFactory(jobstatus="sent")
    stale_row = Job.objects.filter(pk=job.pk).values(*pilot_updates._RULE_COLUMNS).get()
    Job.objects.filter(pk=job.pk).update(jobstatus="starting")

    outcome = pilot_updates._update(
        stale_row,
        requested="running",
        state="running",
        final=False,
        attemptnr=None,
        fields={},
        output_report=None,
        now=pilot_updates.utcnow(),
    )

    assert outcome.result == Result.APPLIED
    assert fresh(job).jobstatus == "running"
    assert JobStatusLog.objects.get(pandaid=job.pandaid).oldstatus == "starting"


def test_an_unknown_state_is_a_programming_error():
    job = JobFactory(jobstatus="running")

    with pytest.raises(ValueError):
        update(job, "paused")


# --- value conversions (protocol.md §6.1) -----------------------------------------------------


def test_numeric_conversions_follow_the_wire_contract():
    changes = pilot_update_changes(
        {
            "pilotErrorCode": "-1201",
            "exeErrorCode": 65,
            "transExitCode": "0",
            "maxRSS": "2048",
            "avgRSS": "1024.7",
            "maxPSS": 3000.0,
            "totRCHAR": str(10 * 1024),
            "totWBYTES": 10**20,
            "rateRCHAR": "5000",
            "rateWBYTES": 10**12,
            "coreCount": "8",
            "meanCoreCount": "7.5",
            "cpuConsumptionTime": "3600.9",
            "cpuConversionFactor": "1.25",
            "nEvents": "100",
            "nInputFiles": 2,
        }
    )

    assert changes["piloterrorcode"] == 1201
    assert changes["exeerrorcode"] == 65
    assert changes["transexitcode"] == "0"
    assert (changes["maxrss"], changes["avgrss"], changes["maxpss"]) == (2048, 1024, 3000)
    assert changes["totrchar"] == 10
    assert changes["totwbytes"] == 10**10 - 1
    assert changes["raterchar"] == 5000
    assert changes["ratewbytes"] == 10**10 - 1
    assert (changes["actualcorecount"], changes["meancorecount"]) == (8, 7.5)
    assert (changes["cpuconsumptiontime"], changes["cpuconversion"]) == (3600, 1.25)
    assert (changes["nevents"], changes["ninputfiles"]) == (100, 2)


def test_v1_rates_are_bytes_converted_to_kilobytes():
    changes = pilot_update_changes({"rateRCHAR": 4096, "rateWCHAR": 10**14}, rates_in_bytes=True)

    assert (changes["raterchar"], changes["ratewchar"]) == (4, 10**10 - 1)


def test_non_integer_codes_and_unparsable_numbers_are_ignored():
    changes = pilot_update_changes(
        {
            "pilotErrorCode": "abc",
            "transExitCode": "1.5",
            "exeErrorCode": "",
            "maxRSS": "lots",
            "nEvents": "NULL",
            "startTime": "yesterday",
            "meanCoreCount": "nan",
            "cpuConversionFactor": True,
        }
    )

    assert changes == {}


def test_memory_leak_and_chi2_are_parsed_from_job_metrics():
    changes = pilot_update_changes({"jobMetrics": "coreCount=8 leak=123.4 chi2=0.56 nEvents=10"})

    assert changes["jobmetrics"] == "coreCount=8 leak=123.4 chi2=0.56 nEvents=10"
    assert (changes["memory_leak"], changes["memory_leak_x2"]) == (123, 0.56)


def test_texts_are_truncated_to_their_columns():
    changes = pilot_update_changes(
        {
            "pilotErrorDiag": "p" * 900,
            "exeErrorDiag": "e" * 900,
            "node": "n" * 300,
            "pilotID": "i" * 300,
            "batchID": "b" * 100,
            "jobSubStatus": "s" * 100,
            "jobMetrics": "m" * 900,
            "cpu_architecture_level": "x" * 40,
            "grid": "g" * 80,
            "source_site": "s" * 50,
            "destination_site": "d" * 50,
        }
    )

    assert {key: len(value) for key, value in changes.items()} == {
        "piloterrordiag": 500,
        "exeerrordiag": 500,
        "modificationhost": 128,
        "pilotid": 200,
        "batchid": 80,
        "jobsubstatus": 80,
        "jobmetrics": 500,
        "cpu_architecture_level": 20,
        "grid": 50,
        "sourcesite": 36,
        "destinationsite": 36,
    }


def test_ignored_keys_do_not_reach_the_job():
    changes = pilot_update_changes(
        {
            "timestamp": "1",
            "token": "t",
            "messageLevel": "x",
            "workdir": "/w",
            "remainingSpace": "1",
            "computingElement": "ce",
            "cpu": "1",
            "workingGroup": "wg",
            "countryGroup": "us",
            "allowOtherCountry": "True",
            "AtlasRelease": "22",
            "siteName": "Q",
            "timeout": "60",
        }
    )

    assert changes == {}


def test_epoch_and_wire_format_times_are_both_accepted():
    changes = pilot_update_changes({"startTime": 1700000000.5, "endTime": "2024-01-02 03:04:05"})

    assert changes["starttime"] == dt.datetime(2023, 11, 14, 22, 13, 20, 500000)
    assert changes["endtime"] == dt.datetime(2024, 1, 2, 3, 4, 5)


def test_all_converted_fields_are_stored_on_the_job():
    job = JobFactory(jobstatus="running")
    changes = pilot_update_changes(
        {
            "pilotErrorCode": "-1201",
            "maxRSS": "2048",
            "totRCHAR": "2048",
            "coreCount": "4",
            "meanCoreCount": 3.5,
            "jobMetrics": "leak=10 chi2=2.5",
            "cpuConsumptionUnit": "s+AMD EPYC 7351 16-Core Processor",
            "schedulerID": "harvester-1",
            "pilotID": "x|PR|3.11.5",
            "pilotTiming": "1|2|3|4|5",
        }
    )

    update(job, "running", changes=changes)

    job = fresh(job)
    assert (job.piloterrorcode, job.maxrss, job.totrchar, job.actualcorecount, job.meancorecount) == (
        1201,
        2048,
        2,
        4,
        3.5,
    )
    assert (job.memory_leak, job.memory_leak_x2) == (10, 2.5)
    assert (job.cpuconsumptionunit, job.schedulerid, job.pilotid, job.pilottiming) == (
        "s+AMD EPYC 7351 16-Core Processor",
        "harvester-1",
        "x|PR|3.11.5",
        "1|2|3|4|5",
    )


def test_the_final_report_after_a_pilot_set_transferring_is_taken():
    job = JobFactory(jobstatus="running")
    update(job, "transferring")

    outcome = update(job, "finished", output_report='{"log.tgz": {"guid": "G", "fsize": 1, "adler32": "0a"}}')

    assert outcome.result == Result.APPLIED
    assert fresh(job).jobstatus == "holding"
    assert JobOutputReport.objects.get(job=job).final_status == "finished"
