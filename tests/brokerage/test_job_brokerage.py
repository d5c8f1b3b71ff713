import datetime as dt
import json
import random

import pytest

from apps.brokerage.models import BrokerageDecision
from apps.brokerage.services import decisions
from apps.brokerage.services.job_brokerage import generic_job_brokerage
from apps.core.timeutil import utcnow
from apps.jedi.models import TaskParams
from apps.jedi.plugins import BrokerageResult
from tests.brokerage.grid import generic_task, jobs_on, make_queue, pilot_seen
from tests.jedi_factories import TaskFactory, ddm_dataset_with_files, input_contents, task_params

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def broker(task, files=(), *, scout=False, seed=1) -> BrokerageResult:
    return generic_job_brokerage(task, files=list(files), scout=scout, rng=random.Random(seed))


def kept(result: BrokerageResult) -> set[str]:
    return {name for name, _ in result.candidates}


# --- candidates --------------------------------------------------------------------------------


def test_a_task_without_site_or_cloud_considers_every_queue():
    for name in ("Q_A", "Q_B", "Q_C"):
        make_queue(name)

    result = broker(generic_task())

    assert kept(result) == {"Q_A", "Q_B", "Q_C"}
    assert result.rejected == {}


def test_a_task_with_a_cloud_considers_only_that_clouds_queues():
    make_queue("Q_DE", cloud="DE")
    make_queue("Q_FR", cloud="FR")

    result = broker(generic_task(cloud="DE"))

    assert kept(result) == {"Q_DE"}
    assert "Q_FR" not in result.rejected


def test_the_task_site_may_be_a_regular_expression_over_queue_names():
    for name in ("CERN_A", "CERN_B", "BNL_A"):
        make_queue(name)

    result = broker(generic_task(site="CERN_.*"))

    assert kept(result) == {"CERN_A", "CERN_B"}


def test_the_task_site_may_name_a_site_whose_queues_are_candidates():
    make_queue("Q_ONE", site="BIG_SITE")
    make_queue("Q_TWO", site="BIG_SITE")
    make_queue("Q_ELSEWHERE")

    result = broker(generic_task(site="BIG_SITE"))

    assert kept(result) == {"Q_ONE", "Q_TWO"}


def test_an_invalid_site_pattern_leaves_no_candidate_and_says_why():
    make_queue("Q_A")

    result = broker(generic_task(site="[unclosed"))

    assert result.candidates == []
    decision = BrokerageDecision.objects.get(pk=result.decision_id)
    assert "no candidate queue" in decision.summary
    assert "not a queue nor a valid pattern" in decision.summary


# --- status ------------------------------------------------------------------------------------


def test_a_queue_that_is_not_online_is_rejected():
    make_queue("Q_ON")
    make_queue("Q_OFF", status="brokeroff")

    result = broker(generic_task())

    assert kept(result) == {"Q_ON"}
    assert result.rejected == {"Q_OFF": "status: brokeroff (not online)"}


def test_a_pre_assigned_queue_skips_the_status_cores_and_memory_filters():
    make_queue("Q_PINNED", status="brokeroff", corecount=8, maxrss=500)
    make_queue("Q_OTHER")

    result = broker(generic_task(site="Q_PINNED", corecount=1, ramcount=4000))

    assert result.candidates == [("Q_PINNED", 1.0)]
    assert result.rejected == {}


def test_a_pre_assigned_queue_still_needs_enough_scratch_disk():
    make_queue("Q_PINNED", maxwdir=100)
    task = generic_task(site="Q_PINNED")
    files = input_contents(task, 1, fsize=500 * MB)

    result = broker(task, files)

    assert result.candidates == []
    assert result.rejected["Q_PINNED"].startswith("scratch: ")


# --- scratch disk ------------------------------------------------------------------------------


def test_scratch_needs_out_disk_plus_work_disk_plus_the_largest_input_within_maxwdir():
    make_queue("Q_SMALL", maxwdir=2000)
    make_queue("Q_BIG", maxwdir=3000)
    task = generic_task(outdiskcount=1, outdiskunit="MB", workdiskcount=500, workdiskunit="MB", splitrule="")
    files = input_contents(task, 2, fsize=1500 * MB, nevents=100)

    result = broker(task, files)

    assert kept(result) == {"Q_BIG"}
    assert result.rejected == {
        "Q_SMALL": "scratch: outDisk 100 MB + workDisk 500 MB + largest input 1500 MB = 2100 MB > maxwdir 2000 MB"
    }


def test_scratch_counts_the_files_of_one_job_by_the_split_rule():
    make_queue("Q_A", maxwdir=2500)
    task = generic_task(splitrule="NF=2")
    files = input_contents(task, 3, fsize=1000 * MB, nevents=0)

    result = broker(task, files)

    assert "largest input 2000 MB" not in result.rejected.get("Q_A", "")
    assert kept(result) == {"Q_A"}
    task.splitrule = "NF=3"
    assert broker(task, files).rejected["Q_A"].endswith("largest input 3000 MB = 3000 MB > maxwdir 2500 MB")


def test_a_direct_io_queue_does_not_need_scratch_for_the_input():
    make_queue("Q_DIRECT", maxwdir=1000, direct_access_lan=True)
    make_queue("Q_COPY", maxwdir=1000)
    task = generic_task()
    files = input_contents(task, 1, fsize=4000 * MB)

    result = broker(task, files)

    assert kept(result) == {"Q_DIRECT"}
    assert "largest input 4000 MB" in result.rejected["Q_COPY"]


def test_a_queue_without_maxwdir_has_no_scratch_limit():
    make_queue("Q_ANY", maxwdir=0)
    task = generic_task()

    assert kept(broker(task, input_contents(task, 1, fsize=10**12))) == {"Q_ANY"}


# --- walltime ----------------------------------------------------------------------------------


def test_the_task_walltime_must_fit_between_mintime_and_maxtime():
    make_queue("Q_SHORT", maxtime=3600)
    make_queue("Q_LONG", maxtime=172800, mintime=100000)
    make_queue("Q_FITS", maxtime=86400, mintime=600)

    result = broker(generic_task(walltime=7200))

    assert kept(result) == {"Q_FITS"}
    assert result.rejected == {
        "Q_SHORT": "walltime: task walltime 7200 s outside [0, 3600] (maxtime)",
        "Q_LONG": "walltime: task walltime 7200 s outside [100000, 172800] (mintime)",
    }


def test_a_task_without_walltime_is_not_limited_by_the_queue_times():
    make_queue("Q_SHORT", maxtime=60)

    assert kept(broker(generic_task(walltime=None))) == {"Q_SHORT"}


# --- cores -------------------------------------------------------------------------------------


def test_a_single_core_task_needs_a_single_core_or_flexible_queue():
    for name, cores in (("Q_1", 1), ("Q_ANY", 0), ("Q_DYN", -1), ("Q_8", 8)):
        make_queue(name, corecount=cores)

    result = broker(generic_task(corecount=1))

    assert kept(result) == {"Q_1", "Q_ANY", "Q_DYN"}
    assert result.rejected == {"Q_8": "cores: task coreCount 1 needs queue corecount 0, 1 or -1, queue has 8"}


def test_a_multi_core_task_needs_enough_cores_or_a_flexible_queue():
    for name, cores in (("Q_1", 1), ("Q_4", 4), ("Q_8", 8), ("Q_16", 16), ("Q_ANY", 0)):
        make_queue(name, corecount=cores, maxrss=64000)

    result = broker(generic_task(corecount=8))

    assert kept(result) == {"Q_8", "Q_16", "Q_ANY"}
    assert result.rejected["Q_4"] == "cores: task coreCount 8 needs queue corecount 0, -1 or >= 8, queue has 4"
    assert result.rejected["Q_1"].startswith("cores: ")


# --- memory ------------------------------------------------------------------------------------


def test_memory_per_core_times_the_queue_corecount_must_fit_within_maxrss():
    make_queue("Q_SMALL", maxrss=2000)
    make_queue("Q_LARGE", maxrss=8000)

    result = broker(generic_task(ramcount=4000, ramunit="MBPerCore"))

    assert kept(result) == {"Q_LARGE"}
    assert result.rejected == {"Q_SMALL": "memory: ramCount 4000 MB x corecount 1 = 4000 MB outside [0, 2000] (maxrss)"}


def test_memory_counts_the_multi_core_slot_and_the_base_ram():
    make_queue("Q_MCORE", corecount=8, maxrss=16000)

    result = broker(generic_task(corecount=0, ramcount=2000, baseramcount=1000))

    assert result.rejected["Q_MCORE"] == (
        "memory: ramCount 2000 MB x corecount 8 + baseRamCount 1000 MB = 17000 MB outside [0, 16000] (maxrss)"
    )


def test_memory_below_minrss_is_rejected_too():
    make_queue("Q_HIMEM", minrss=8000, maxrss=16000)

    result = broker(generic_task(ramcount=1000))

    assert result.rejected["Q_HIMEM"] == (
        "memory: ramCount 1000 MB x corecount 1 = 1000 MB outside [8000, 16000] (minrss)"
    )


def test_memory_raised_on_a_file_by_the_retry_module_counts():
    make_queue("Q_A", maxrss=3000)
    task = generic_task(ramcount=1000)
    files = input_contents(task, 2)
    files[1].ramcount = 3500

    result = broker(task, files)

    assert result.rejected == {"Q_A": "memory: ramCount 3500 MB x corecount 1 = 3500 MB outside [0, 3000] (maxrss)"}


# --- processing types --------------------------------------------------------------------------


def test_catchall_allowed_processing_keeps_other_processing_types_away():
    make_queue("Q_MERGE_ONLY", catchall="allowed_processing=pmerge|reprocessing")
    make_queue("Q_OPEN")

    result = broker(generic_task(processingtype="simul"))

    assert kept(result) == {"Q_OPEN"}
    assert result.rejected == {
        "Q_MERGE_ONLY": "processing: processingType simul not in allowed_processing [pmerge, reprocessing]"
    }
    assert kept(broker(generic_task(processingtype="pmerge"))) == {"Q_MERGE_ONLY", "Q_OPEN"}


def test_catchall_excluded_processing_rejects_that_processing_type():
    make_queue("Q_NO_EVGEN", catchall="excluded_processing=evgen")

    assert broker(generic_task(processingtype="evgen")).rejected == {
        "Q_NO_EVGEN": "processing: processingType evgen in excluded_processing [evgen]"
    }
    assert kept(broker(generic_task(processingtype="simul"))) == {"Q_NO_EVGEN"}


# --- pilots ------------------------------------------------------------------------------------


def test_a_queue_without_a_recent_pilot_is_rejected():
    make_queue("Q_FRESH", pilot_hours_ago=1)
    make_queue("Q_STALE", pilot_hours_ago=5)
    make_queue("Q_NEVER", pilot_hours_ago=None)

    result = broker(generic_task())

    assert kept(result) == {"Q_FRESH"}
    assert result.rejected["Q_NEVER"] == "pilot: no pilot getJob ever recorded"
    assert result.rejected["Q_STALE"].startswith("pilot: last pilot getJob ")
    assert result.rejected["Q_STALE"].endswith(", 5.0 h ago > 3 h")


def test_any_label_the_pilot_asked_for_counts_as_seen():
    queue = make_queue("Q_A", pilot_hours_ago=10)
    pilot_seen(queue, hours_ago=0, label="user")

    assert kept(broker(generic_task())) == {"Q_A"}


def test_test_tasks_and_allow_no_pilot_queues_do_not_need_a_pilot():
    make_queue("Q_NEVER", pilot_hours_ago=None)
    make_queue("Q_ALLOWED", pilot_hours_ago=None, catchall="allow_no_pilot")

    assert kept(broker(generic_task())) == {"Q_ALLOWED"}
    assert kept(broker(generic_task(prodsourcelabel="test"))) == {"Q_NEVER", "Q_ALLOWED"}


# --- data --------------------------------------------------------------------------------------


def test_queues_with_file_dispatch_disabled_need_every_input_on_their_read_endpoints():
    make_queue("Q_HAS_DATA", site="SITE_D", catchall="disable_file_dispatch")
    make_queue("Q_NO_DATA", site="SITE_E", catchall="disable_file_dispatch")
    make_queue("Q_DISPATCH", site="SITE_F")
    ddm_dataset_with_files("mc23.EVNT.e1", 2, endpoint="SITE_D_DATADISK")
    task = generic_task()
    files = input_contents(task, 2, dataset="mc23:mc23.EVNT.e1")
    for i, f in enumerate(files):
        f.lfn = f"mc23.EVNT.e1._{i + 1:06d}.root"

    result = broker(task, files)

    assert kept(result) == {"Q_HAS_DATA", "Q_DISPATCH"}
    assert result.rejected == {
        "Q_NO_DATA": "data: 0 of 2 input files on read endpoints [SITE_E_DATADISK] (disable_file_dispatch needs all)"
    }


# --- weights and ranking -----------------------------------------------------------------------


def test_the_weight_follows_running_activated_and_defined_jobs():
    make_queue("Q_BUSY")
    make_queue("Q_IDLE")
    jobs_on("Q_BUSY", "running", 3)
    jobs_on("Q_BUSY", "activated", 3)
    jobs_on("Q_BUSY", "defined", 1)

    result = broker(generic_task())

    weights = dict(result.candidates)
    assert weights["Q_BUSY"] == pytest.approx((3 + 1) / (3 + 1 + 1) / (1 + 1))
    assert weights["Q_IDLE"] == 1.0
    assert result.candidates[0][0] == "Q_IDLE"


def test_only_the_five_best_queues_are_kept_and_the_rest_are_told_why():
    for i in range(7):
        make_queue(f"Q_{i}")
        jobs_on(f"Q_{i}", "activated", i)

    result = broker(generic_task())

    assert [name for name, _ in result.candidates] == ["Q_0", "Q_1", "Q_2", "Q_3", "Q_4"]
    assert result.rejected["Q_5"] == "rank: weight 0.1667 not among the 5 best (lowest kept 0.2)"
    assert set(result.rejected) == {"Q_5", "Q_6"}


def test_ties_at_the_cut_are_shuffled():
    for i in range(8):
        make_queue(f"Q_{i}")
    task = generic_task()

    chosen = {frozenset(kept(broker(task, seed=seed))) for seed in range(10)}

    assert all(len(names) == 5 for names in chosen)
    assert len(chosen) > 1


def test_queues_the_task_already_uses_are_always_kept():
    task = generic_task()
    for i in range(6):
        make_queue(f"Q_{i}")
    jobs_on("Q_5", "activated", 50)
    jobs_on("Q_5", "running", 1, task_id=task.jeditaskid)

    result = broker(task)

    assert "Q_5" in kept(result)
    assert len(result.candidates) == 6
    assert result.candidates[-1][0] == "Q_5"


def test_a_queue_used_by_the_task_must_still_pass_the_filters():
    task = generic_task()
    make_queue("Q_USED", status="offline")
    jobs_on("Q_USED", "running", 1, task_id=task.jeditaskid)

    result = broker(task)

    assert result.candidates == []
    assert result.rejected == {"Q_USED": "status: offline (not online)"}


def test_finished_jobs_of_the_task_do_not_make_a_queue_used():
    task = generic_task()
    for i in range(6):
        make_queue(f"Q_{i}")
    jobs_on("Q_5", "activated", 50)
    jobs_on("Q_5", "finished", 1, task_id=task.jeditaskid)

    assert "Q_5" not in kept(broker(task))


# --- the decision ------------------------------------------------------------------------------


def test_the_decision_is_recorded_with_weights_reasons_and_a_summary():
    make_queue("Q_OK")
    make_queue("Q_OFF", status="offline")
    make_queue("Q_SMALL", maxrss=100)
    task = generic_task()

    result = broker(task)

    decision = BrokerageDecision.objects.get(pk=result.decision_id)
    assert decision.jeditaskid == task.jeditaskid
    assert decision.kind == "job"
    assert decision.chosen == [{"queue": "Q_OK", "weight": 1.0}]
    assert decision.rejected == result.rejected
    assert decision.summary == ("generic brokerage: all queues, 1 of 3 kept (Q_OK 1); rejected 2: status 1, memory 1")


def test_only_the_newest_decisions_of_a_task_are_kept(monkeypatch):
    monkeypatch.setattr(decisions, "KEEP_PER_TASK", 3)
    make_queue("Q_A")
    task = generic_task()
    other = generic_task()
    broker(other)

    ids = [broker(task).decision_id for _ in range(5)]

    remaining = BrokerageDecision.objects.filter(jeditaskid=task.jeditaskid).order_by("id")
    assert list(remaining.values_list("id", flat=True)) == ids[-3:]
    assert BrokerageDecision.objects.filter(jeditaskid=other.jeditaskid).count() == 1


def test_the_number_of_queries_does_not_grow_with_the_number_of_queues(django_assert_max_num_queries):
    task = generic_task()
    files = input_contents(task, 3)
    for i in range(3):
        make_queue(f"Q_{i}")
    with django_assert_max_num_queries(12) as few:
        broker(task, files)
    for i in range(3, 60):
        make_queue(f"Q_{i}", catchall="disable_file_dispatch" if i == 59 else "")
    with django_assert_max_num_queries(len(few.captured_queries) + 4):
        result = broker(task, files)
    assert len(result.candidates) == 5


# --- analysis tasks (jedi.md §10.3) ------------------------------------------------------------


def analysis_task(params: dict | None = None, **fields):
    task = TaskFactory(**fields)
    if params:
        TaskParams.objects.filter(task=task).update(taskparams=json.dumps(task_params(**params)))
    return task


def analysis_files(task, endpoint: str | None, n: int = 2):
    ddm_dataset_with_files("mc23.EVNT.an1", n, endpoint=endpoint)
    files = input_contents(task, n, dataset="mc23:mc23.EVNT.an1")
    for i, f in enumerate(files):
        f.lfn = f"mc23.EVNT.an1._{i + 1:06d}.root"
    return files


def test_analysis_takes_analysis_and_unified_queues_only():
    make_queue("Q_PROD", type="production")
    make_queue("Q_ANAL", type="analysis")
    make_queue("Q_UNIFIED", type="unified")

    result = broker(analysis_task())

    assert kept(result) == {"Q_ANAL", "Q_UNIFIED"}
    assert result.rejected == {"Q_PROD": "type: production queue (analysis needs analysis or unified)"}


def test_analysis_honours_included_and_excluded_sites_from_the_task_parameters():
    for name in ("Q_CERN_1", "Q_CERN_2", "Q_BNL"):
        make_queue(name)

    included = broker(analysis_task({"includedSite": ["Q_CERN_*"]}))
    excluded = broker(analysis_task({"excludedSite": "Q_CERN_2,Q_BNL"}))

    assert kept(included) == {"Q_CERN_1", "Q_CERN_2"}
    assert included.rejected == {"Q_BNL": "includedSite: not in includedSite [Q_CERN_*]"}
    assert kept(excluded) == {"Q_CERN_1"}
    assert excluded.rejected["Q_BNL"] == "excludedSite: matches excludedSite 'Q_BNL'"


def test_analysis_runs_where_the_data_is():
    make_queue("Q_DATA", site="SITE_D")
    make_queue("Q_EMPTY", site="SITE_E")
    task = analysis_task()

    result = broker(task, analysis_files(task, "SITE_D_DATADISK"))

    assert kept(result) == {"Q_DATA"}
    assert result.rejected == {"Q_EMPTY": "data: 0 of 2 input files on read endpoints [SITE_E_DATADISK]"}


def test_very_high_priority_or_low_io_analysis_goes_anywhere():
    make_queue("Q_DATA", site="SITE_D")
    make_queue("Q_EMPTY", site="SITE_E")
    urgent = analysis_task(currentpriority=2000)
    light = analysis_task(iointensity=10)

    assert kept(broker(urgent, analysis_files(urgent, "SITE_D_DATADISK"))) == {"Q_DATA", "Q_EMPTY"}
    files = input_contents(light, 1, dataset="mc23:mc23.EVNT.an1", lfn="mc23.EVNT.an1._000001.root")
    assert kept(broker(light, files)) == {"Q_DATA", "Q_EMPTY"}


def test_analysis_skips_queues_with_too_many_queued_jobs():
    make_queue("Q_FULL")
    make_queue("Q_OK")
    jobs_on("Q_FULL", "activated", 41)
    jobs_on("Q_OK", "activated", 40)

    result = broker(analysis_task())

    assert kept(result) == {"Q_OK"}
    assert result.rejected == {"Q_FULL": "queue full: queued 41 > 2 x max(20, running 0) = 40"}


def test_analysis_skips_queues_where_the_task_recently_failed_a_lot():
    make_queue("Q_BAD")
    make_queue("Q_GOOD")
    task = analysis_task()
    jobs_on("Q_BAD", "failed", 80, task_id=task.jeditaskid)
    jobs_on("Q_BAD", "closed", 20, task_id=task.jeditaskid)
    jobs_on("Q_BAD", "finished", 10, task_id=task.jeditaskid)
    jobs_on("Q_GOOD", "failed", 99, task_id=task.jeditaskid)
    old = utcnow() - dt.timedelta(days=3)
    jobs_on("Q_GOOD", "failed", 50, task_id=task.jeditaskid, modificationtime=old)

    result = broker(task)

    assert kept(result) == {"Q_GOOD"}
    assert result.rejected == {
        "Q_BAD": "task failures: failed+closed 100 >= max(2 x finished 10, 100) for this task recently"
    }


def test_analysis_weights_count_every_queued_state_and_keep_the_best_ten():
    for i in range(12):
        make_queue(f"Q_{i:02d}")
        jobs_on(f"Q_{i:02d}", "assigned", i)
    jobs_on("Q_00", "running", 3)
    jobs_on("Q_00", "starting", 1)

    result = broker(analysis_task())

    assert len(result.candidates) == 10
    assert result.candidates[0] == ("Q_00", pytest.approx((3 + 1) / (1 + 1)))
    assert {"Q_10", "Q_11"} == {name for name, why in result.rejected.items() if why.startswith("rank: ")}
