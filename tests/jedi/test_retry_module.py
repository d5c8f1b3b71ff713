import json

import pytest
from django.contrib import admin
from django.core.management import CommandError, call_command

from apps.jedi.admin import RetryRuleForm
from apps.jedi.models import DatasetContent, RetryRule, Task
from apps.jedi.services.feedback import feedback_run
from apps.jedi.services.retry_module import (
    RetryRuleError,
    next_ram,
    retry_module_apply,
    retry_rules_load,
    split_rule_replace,
    split_rule_value,
)
from tests.factories import JobFactory
from tests.jedi_factories import TaskFactory, input_contents

pytestmark = pytest.mark.django_db


def rule(action, *, source="pilot", code=1305, **fields):
    return RetryRule.objects.create(errorsource=source, errorcode=code, action=action, **fields)


def failed_job(*, n=2, task=None, maxattempt=3, **job_fields):
    """A running task whose ``n`` input files were held by a job that failed with ``job_fields``."""
    task = task or TaskFactory(status="running")
    contents = input_contents(task, n, maxattempt=maxattempt)
    fields = {"piloterrorcode": 1305, "piloterrordiag": "Unable to allocate memory", **job_fields}
    job = JobFactory(jeditaskid=task.jeditaskid, jobstatus="failed", **fields)
    DatasetContent.objects.filter(fileid__in=[c.fileid for c in contents]).update(status="picked", pandaid=job.pandaid)
    return task, job, [c.fileid for c in contents]


def rows(fileids, *fields):
    return list(DatasetContent.objects.filter(fileid__in=fileids).order_by("fileid").values_list(*fields))


def test_no_retry_fails_the_files_at_once():
    rule("no_retry")
    task, job, fileids = failed_job()

    summary = feedback_run()

    assert summary.retry_actions == 1
    assert rows(fileids, "status", "attemptnr") == [("failed", 1), ("failed", 1)]


def test_rules_for_another_code_or_diag_do_not_apply():
    rule("no_retry", code=1099)
    rule("no_retry", errordiag="disk full")
    task, job, fileids = failed_job()

    summary = feedback_run()

    assert summary.retry_actions == 0
    assert rows(fileids, "status") == [("ready",), ("ready",)]


def test_the_diag_is_a_regular_expression_searched_in_the_error_diag():
    rule("no_retry", errordiag=r"allocate\s+mem")
    task, job, fileids = failed_job()

    assert retry_module_apply(job, task=task, fileids=fileids) == ["no_retry"]


@pytest.mark.parametrize(
    ("scope", "applies"),
    [
        ({"architecture": "x86_64-el9-gcc13-opt"}, True),
        ({"architecture": "aarch64-el9-gcc13-opt"}, False),
        ({"release": "Atlas-22.0"}, True),
        ({"release": "Atlas-23.0"}, False),
        ({"workqueue_id": 7}, True),
        ({"workqueue_id": 8}, False),
    ],
)
def test_a_rule_scope_limits_it_to_matching_jobs(scope, applies):
    rule("no_retry", **scope)
    task, job, fileids = failed_job(workqueue_id=7)

    assert retry_module_apply(job, task=task, fileids=fileids) == (["no_retry"] if applies else [])


def test_an_inactive_rule_is_only_logged():
    rule("no_retry", active=False)
    task, job, fileids = failed_job()

    assert retry_module_apply(job, task=task, fileids=fileids) == []
    assert rows(fileids, "maxattempt") == [(3,), (3,)]


def test_only_the_first_error_with_applicable_rules_is_acted_on():
    rule("no_retry", source="exe", code=65)
    rule("limit_retry", parameters={"maxAttempt": 2})
    task, job, fileids = failed_job(exeerrorcode=65)

    assert retry_module_apply(job, task=task, fileids=fileids) == ["limit_retry"]
    assert rows(fileids, "maxattempt") == [(2,), (2,)]


@pytest.mark.parametrize(("cap", "status"), [(1, "failed"), (2, "ready")])
def test_limit_retry_caps_the_attempts(cap, status):
    rule("limit_retry", parameters={"maxAttempt": cap})
    task, job, fileids = failed_job(maxattempt=5)

    feedback_run()

    assert rows(fileids, "status", "maxattempt") == [(status, cap), (status, cap)]


def test_the_narrowest_limit_retry_wins_and_ties_take_the_smallest_cap():
    rule("limit_retry", parameters={"maxAttempt": 1})
    rule("limit_retry", parameters={"maxAttempt": 4}, release="Atlas-22.0")
    rule("limit_retry", parameters={"maxAttempt": 3}, release="Atlas-22.0")
    task, job, fileids = failed_job(maxattempt=5)

    retry_module_apply(job, task=task, fileids=fileids)

    assert rows(fileids, "maxattempt") == [(3,), (3,)]


def test_increase_memory_steps_from_the_task_retry_ram_offset():
    rule("increase_memory")
    task = TaskFactory(status="running", splitrule="NF=2,RX=2000,RY=1000", ramunit="MBPerCore", ramcount=1000)
    task, job, fileids = failed_job(task=task, minramcount=2500, corecount=1)

    feedback_run()

    assert rows(fileids, "status", "ramcount") == [("ready", 3000), ("ready", 3000)]


def test_increase_memory_starts_at_the_offset_when_below_it():
    rule("increase_memory")
    task = TaskFactory(status="running", splitrule="RX=4000,RY=500", ramunit="MBPerCore", ramcount=1000)
    task, job, fileids = failed_job(task=task, minramcount=1500, corecount=1)

    retry_module_apply(job, task=task, fileids=fileids)

    assert rows(fileids, "ramcount") == [(4000,), (4000,)]


def test_increase_memory_without_split_rules_climbs_the_default_ladder_from_what_the_job_used():
    rule("increase_memory")
    task = TaskFactory(status="running", ramunit="MBPerCore", ramcount=1000, baseramcount=0)
    # 8 cores, 20000 MB asked, 28 GB PSS used: 3500 MB per core -> 4000
    task, job, fileids = failed_job(task=task, minramcount=20000, maxpss=28_000 * 1024, corecount=8)

    retry_module_apply(job, task=task, fileids=fileids)

    assert rows(fileids, "ramcount") == [(4000,), (4000,)]


def test_increase_memory_leaves_fixed_ram_tasks_alone():
    rule("increase_memory")
    task = TaskFactory(status="running", ramunit="MBPerCoreFixed", ramcount=1000)
    task, job, fileids = failed_job(task=task, minramcount=1000)

    assert retry_module_apply(job, task=task, fileids=fileids) == []
    assert rows(fileids, "ramcount") == [(None,), (None,)]


def test_increase_memory_is_idempotent_for_one_job():
    rule("increase_memory")
    task = TaskFactory(status="running", ramunit="MBPerCore", ramcount=1000)
    task, job, fileids = failed_job(task=task, minramcount=1000)

    assert retry_module_apply(job, task=task, fileids=fileids) == ["increase_memory"]
    assert retry_module_apply(job, task=task, fileids=fileids) == []

    assert rows(fileids, "ramcount") == [(2000,), (2000,)]


def test_next_ram_follows_offset_and_step():
    assert next_ram(1500, splitrule="RX=2000,RY=1000") == 2000
    assert next_ram(2000, splitrule="RX=2000,RY=1000") == 3000
    assert next_ram(3999, splitrule="RX=2000,RY=1000") == 4000
    assert next_ram(2500, splitrule="RX=2000") is None
    assert next_ram(8000, splitrule="") is None
    assert next_ram(3000, splitrule="", cores=4, per_core=False) == 4000


@pytest.mark.parametrize(("parameters", "expected"), [({}, 4000), ({"factor": 3}, 6000), ({"maxRamCount": 3000}, 3000)])
def test_increase_memory_xtimes_multiplies_the_ram(parameters, expected):
    rule("increase_memory_xtimes", parameters=parameters)
    task = TaskFactory(status="running", ramunit="MBPerCore", ramcount=2000)
    task, job, fileids = failed_job(task=task, minramcount=2000)

    retry_module_apply(job, task=task, fileids=fileids)

    assert rows(fileids, "ramcount") == [(expected,), (expected,)]


def test_increase_cputime_raises_the_task_walltime_once_per_generation_of_jobs():
    rule("increase_cputime", parameters={"factor": 2})
    task = TaskFactory(status="running", walltime=3600, cputime=10.0)
    task, job, fileids = failed_job(task=task, maxcpucount=3600)
    _, sibling, sibling_files = failed_job(task=task, maxcpucount=3600)

    assert retry_module_apply(job, task=task, fileids=fileids) == ["increase_cputime"]
    assert retry_module_apply(sibling, task=task, fileids=sibling_files) == []

    task = Task.objects.get(pk=task.pk)
    assert (task.walltime, task.cputime) == (7200, 20.0)


def test_reduce_input_per_job_halves_the_files_per_job_in_the_split_rule():
    rule("reduce_input_per_job")
    task = TaskFactory(status="running", splitrule="NF=4,MF=10,ZZ=1")
    task, job, fileids = failed_job(task=task, n=4)

    assert retry_module_apply(job, task=task, fileids=fileids) == ["reduce_input_per_job"]
    assert retry_module_apply(job, task=task, fileids=fileids) == []

    assert Task.objects.get(pk=task.pk).splitrule == "MF=10,ZZ=1,NF=2"


def test_reduce_input_per_job_halves_the_events_of_event_split_tasks():
    rule("reduce_input_per_job")
    task = TaskFactory(status="running", splitrule="NE=1000")
    task, job, fileids = failed_job(task=task, n=1, nevents=1000)

    retry_module_apply(job, task=task, fileids=fileids)

    assert split_rule_value(Task.objects.get(pk=task.pk).splitrule, "NE") == "500"


def test_split_rule_replace_keeps_other_codes():
    assert split_rule_replace("NF=2,AN=1", "NF", 1) == "AN=1,NF=1"
    assert split_rule_replace("", "NF", 1) == "NF=1"


def test_loading_rules_validates_all_before_storing_any():
    good = {"errorsource": "pilotErrorCode", "errorcode": 1305, "action": "no_retry"}
    bad = {"errorsource": "pilot", "errorcode": 1, "action": "limit_retry"}

    with pytest.raises(RetryRuleError, match=r"rule #2: limit_retry needs parameters.maxAttempt"):
        retry_rules_load([good, bad])

    assert RetryRule.objects.count() == 0
    assert retry_rules_load([good]) == (1, 0)
    assert retry_rules_load([good | {"description": "OOM"}]) == (0, 1)
    assert RetryRule.objects.get().errorsource == "pilot"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"errorsource": "nope", "errorcode": 1, "action": "no_retry"}, "errorsource 'nope' is unknown"),
        ({"errorsource": "exe", "errorcode": "x", "action": "no_retry"}, "errorcode must be an integer"),
        ({"errorsource": "exe", "errorcode": 1, "action": "reboot"}, "action 'reboot' is unknown"),
        ({"errorsource": "exe", "errorcode": 1, "action": "no_retry", "errordiag": "("}, "not a regular expression"),
        ({"errorsource": "exe", "errorcode": 1, "action": "no_retry", "colour": 1}, "unknown field"),
        (
            {"errorsource": "exe", "errorcode": 1, "action": "increase_memory_xtimes", "parameters": {"factor": 0.5}},
            "factor must be",
        ),
    ],
)
def test_bad_rules_are_refused_with_the_reason(data, message):
    with pytest.raises(RetryRuleError, match=message):
        retry_rules_load([data])


def test_the_load_command_reads_a_json_file_and_can_replace_the_rules(tmp_path):
    rule("no_retry", code=1)
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([{"errorsource": "exe", "errorcode": 137, "action": "increase_memory"}]))

    call_command("load_retry_rules", str(path), "--replace")

    assert list(RetryRule.objects.values_list("errorsource", "errorcode", "action")) == [
        ("exe", 137, "increase_memory")
    ]


def test_the_load_command_refuses_a_bad_file_and_changes_nothing(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text('{"errorsource": "exe"}')

    with pytest.raises(CommandError, match="a list of rules"):
        call_command("load_retry_rules", str(path))
    path.write_text("not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("load_retry_rules", str(path))
    assert RetryRule.objects.count() == 0


def test_retry_rules_tasks_and_datasets_are_in_the_admin():
    from apps.jedi.models import TaskDataset

    assert {RetryRule, Task, TaskDataset} <= set(admin.site._registry)


def test_the_admin_form_refuses_a_bad_rule():
    form = RetryRuleForm(data={"errorsource": "pilot", "errorcode": 1, "action": "limit_retry", "parameters": "{}"})

    assert not form.is_valid()
    assert "limit_retry needs parameters.maxAttempt" in str(form.errors)

    form = RetryRuleForm(
        data={"errorsource": "pilotErrorCode", "errorcode": 1, "action": "no_retry", "parameters": "{}", "active": "on"}
    )
    assert form.is_valid(), form.errors
    assert form.save().errorsource == "pilot"
