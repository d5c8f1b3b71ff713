import datetime as dt
import random

import pytest

from apps.brokerage.models import BrokerageDecision
from apps.brokerage.services.job_brokerage import production_job_brokerage
from apps.core.timeutil import utcnow
from apps.jedi.plugins import job_broker
from apps.sites.models import StorageEndpoint
from tests.brokerage.grid import jobs_on, make_queue, production_task
from tests.jedi_factories import ddm_dataset_with_files, input_contents

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def broker(task, files=(), *, scout=False, seed=1):
    return production_job_brokerage(task, files=list(files), scout=scout, rng=random.Random(seed))


def kept(result) -> set[str]:
    return {name for name, _ in result.candidates}


def started(queue: str, *, hours_ago: float = 0.5) -> None:
    moment = utcnow() - dt.timedelta(hours=hours_ago)
    jobs_on(queue, "running", 1, starttime=moment, modificationtime=moment)


def test_managed_and_test_tasks_get_the_production_broker_and_others_the_generic_one():
    assert job_broker(production_task()) is production_job_brokerage
    assert job_broker(production_task(prodsourcelabel="test")) is production_job_brokerage
    assert job_broker(production_task(prodsourcelabel="user")).__name__ == "generic_job_brokerage"


def test_memory_is_base_plus_per_core_ram_times_cores_with_a_ten_percent_margin():
    make_queue("Q_FITS", corecount=8, maxrss=16000)
    make_queue("Q_TIGHT", corecount=8, maxrss=15000)

    result = broker(production_task(corecount=8, ramcount=2000, baseramcount=1000))

    assert kept(result) == {"Q_FITS"}
    assert result.rejected == {
        "Q_TIGHT": "memory: (baseRamCount 1000 MB + ramCount 2000 MB x corecount 8) x 0.9 = 15300 MB "
        "outside [0, 15000] (maxrss)"
    }


def test_disk_needs_input_plus_at_least_one_and_a_half_gb_out_and_300_mb_work_within_maxwdir():
    make_queue("Q_ROOMY", maxwdir=3000)
    make_queue("Q_SMALL", maxwdir=2000)
    task = production_task(splitrule="")
    files = input_contents(task, 1, fsize=1000 * MB, nevents=0)

    result = broker(task, files)

    assert kept(result) == {"Q_ROOMY"}
    assert result.rejected == {
        "Q_SMALL": "disk: input 1000 MB + max(1536, outDisk 0 MB) + max(300, workDisk 0 MB) = 2836 MB > maxwdir 2000 MB"
    }


def test_a_single_core_job_gets_its_share_of_a_multi_core_slots_scratch():
    make_queue("Q_MCORE", corecount=8, maxwdir=20000, maxrss=64000)
    single = production_task(corecount=1, splitrule="", site="Q_MCORE")  # pre-assigned: no core rule
    multi = production_task(corecount=8, splitrule="")

    rejected = broker(single, input_contents(single, 1, fsize=1000 * MB, nevents=0)).rejected
    assert rejected == {
        "Q_MCORE": "disk: input 1000 MB + max(1536, outDisk 0 MB) + max(300, workDisk 0 MB) = 2836 MB "
        "> maxwdir 20000 MB / corecount 8 = 2500 MB"
    }
    assert kept(broker(multi, input_contents(multi, 1, fsize=1000 * MB, nevents=0))) == {"Q_MCORE"}


def test_scouts_need_queues_with_a_day_of_walltime():
    make_queue("Q_SHORT", maxtime=43200)
    make_queue("Q_LONG", maxtime=86400)
    started("Q_SHORT")
    started("Q_LONG")
    task = production_task()

    assert kept(broker(task, scout=False)) == {"Q_SHORT", "Q_LONG"}
    scouts = broker(task, scout=True)
    assert kept(scouts) == {"Q_LONG"}
    assert scouts.rejected == {"Q_SHORT": "scout: scouts need maxtime >= 86400 s, queue has 43200 s"}


def test_high_priority_tasks_and_scouts_avoid_queues_where_nothing_started_lately():
    make_queue("Q_ACTIVE")
    make_queue("Q_QUIET")
    make_queue("Q_ASLEEP")
    started("Q_ACTIVE", hours_ago=1)
    started("Q_ASLEEP", hours_ago=3)

    high = broker(production_task(currentpriority=900))
    scouts = broker(production_task(), scout=True)
    normal = broker(production_task(currentpriority=500))

    assert kept(high) == kept(scouts) == {"Q_ACTIVE"}
    assert high.rejected["Q_QUIET"] == (
        "inactive: no job started in the last 2 h (needed for scouts, merges and priority >= 800)"
    )
    assert high.rejected["Q_ASLEEP"].startswith("inactive: ")
    assert kept(normal) == {"Q_ACTIVE", "Q_QUIET", "Q_ASLEEP"}


def test_opportunistic_queues_are_not_for_high_priority_work():
    make_queue("Q_PLEDGED")
    make_queue("Q_OPPORTUNISTIC", pledgedcpu=-1)
    started("Q_PLEDGED")
    started("Q_OPPORTUNISTIC")

    high = broker(production_task(currentpriority=900))

    assert kept(high) == {"Q_PLEDGED"}
    assert high.rejected == {
        "Q_OPPORTUNISTIC": "opportunistic: pledgedcpu -1 is opportunistic (not for scouts, merges and priority >= 800)"
    }
    assert kept(broker(production_task(currentpriority=500))) == {"Q_PLEDGED", "Q_OPPORTUNISTIC"}


def test_a_pre_assigned_queue_skips_status_priority_core_and_memory_rules_and_the_post_filters():
    make_queue("Q_PINNED", status="brokeroff", pledgedcpu=-1, corecount=4, maxrss=100)
    jobs_on("Q_PINNED", "activated", 100)

    result = broker(production_task(site="Q_PINNED", currentpriority=900, corecount=8, ramcount=4000))

    assert kept(result) == {"Q_PINNED"}


def test_the_output_must_go_to_an_active_endpoint():
    make_queue("Q_OK")
    make_queue("Q_DOWN")
    make_queue("Q_NOWHERE", astorages={"pr": ["Q_NOWHERE_SITE_DATADISK"]})
    make_queue("Q_UNKNOWN", astorages={"pw": ["NO_SUCH_DATADISK"]})
    StorageEndpoint.objects.filter(name="Q_DOWN_SITE_DATADISK").update(state="OFFLINE")

    result = broker(production_task())

    assert kept(result) == {"Q_OK"}
    assert result.rejected == {
        "Q_DOWN": "storage: no ACTIVE output endpoint (Q_DOWN_SITE_DATADISK OFFLINE)",
        "Q_NOWHERE": "storage: no output endpoint in astorages (pw / write_lan)",
        "Q_UNKNOWN": "storage: no ACTIVE output endpoint (NO_SUCH_DATADISK unknown)",
    }


def test_the_estimated_walltime_comes_from_cpu_time_events_and_core_power():
    make_queue("Q_SHORT", maxtime=10000, corepower=10)
    make_queue("Q_FAST", maxtime=10000, corepower=20)
    task = production_task(cputime=100, cputimeunit="HS06sPerEvent", cpuefficiency=90, splitrule="")
    files = input_contents(task, 1, nevents=1000)

    result = broker(task, files)

    assert kept(result) == {"Q_FAST"}
    assert result.rejected == {
        "Q_SHORT": "walltime: cpuTime 100 x 1000 events / (1 cores x corepower 10 x cpuEfficiency 0.9) "
        "+ baseWalltime 0 s = 11111 s outside [0, 10000] (maxtime)"
    }


def test_without_cpu_time_the_task_walltime_is_the_estimate():
    make_queue("Q_SHORT", maxtime=1800)

    assert broker(production_task(walltime=3600)).rejected == {
        "Q_SHORT": "walltime: task walltime = 3600 s outside [0, 1800] (maxtime)"
    }


def test_transferring_jobs_are_limited_by_the_queue_limit_or_twice_the_running():
    make_queue("Q_LIMITED", transferringlimit=10)
    make_queue("Q_BUSY", transferringlimit=10)
    jobs_on("Q_LIMITED", "transferring", 11)
    jobs_on("Q_LIMITED", "running", 3)
    jobs_on("Q_BUSY", "transferring", 11)
    jobs_on("Q_BUSY", "running", 6)

    result = broker(production_task())

    assert kept(result) == {"Q_BUSY"}
    assert result.rejected == {"Q_LIMITED": "transferring: transferring 11 > max(transferringlimit 10, 2 x running 3)"}


def test_queues_with_more_waiting_than_twice_their_running_are_dropped_unless_the_task_uses_them():
    task = production_task()
    for name in ("Q_ACTIVATED", "Q_WAITING", "Q_USED", "Q_OK"):
        make_queue(name)
        jobs_on(name, "running", 3)
    jobs_on("Q_ACTIVATED", "activated", 7)
    jobs_on("Q_WAITING", "defined", 4)
    jobs_on("Q_WAITING", "assigned", 3)
    jobs_on("Q_USED", "activated", 7, task_id=task.jeditaskid)
    jobs_on("Q_OK", "activated", 6)

    result = broker(task)

    assert kept(result) == {"Q_USED", "Q_OK"}
    assert result.rejected == {
        "Q_ACTIVATED": "queued: activated 7 + starting 0 > 2 x running 3",
        "Q_WAITING": "queued: defined 4 + activated 0 + assigned 3 + starting 0 = 7 > 2 x running 3",
    }


def test_the_weight_penalises_many_assigned_jobs():
    make_queue("Q_A")
    jobs_on("Q_A", "running", 5)
    jobs_on("Q_A", "activated", 2)
    jobs_on("Q_A", "assigned", 4)
    jobs_on("Q_A", "starting", 1)

    result = broker(production_task())

    assert result.candidates == [("Q_A", pytest.approx((5 + 1) / ((2 + 4 + 1 + 0 + 10) * 2)))]


def test_data_locality_raises_the_weight_of_queues_holding_the_input():
    make_queue("Q_DATA", site="SITE_D")
    make_queue("Q_EMPTY", site="SITE_E")
    ddm_dataset_with_files("mc23.EVNT.p1", 2, endpoint="SITE_D_DATADISK")
    task = production_task()
    files = input_contents(task, 2, dataset="mc23:mc23.EVNT.p1")
    for i, f in enumerate(files):
        f.lfn = f"mc23.EVNT.p1._{i + 1:06d}.root"

    result = broker(task, files)

    base = 1 / 10
    assert result.candidates == [
        ("Q_DATA", pytest.approx(base * 2)),
        ("Q_EMPTY", pytest.approx(base * 1 / (2 / 100 + 1))),
    ]


def test_the_ten_best_queues_are_kept():
    for i in range(12):
        make_queue(f"Q_{i:02d}")
        jobs_on(f"Q_{i:02d}", "running", 12 - i)

    result = broker(production_task())

    assert [name for name, _ in result.candidates] == [f"Q_{i:02d}" for i in range(10)]
    assert set(result.rejected) == {"Q_10", "Q_11"}
    assert all(why.startswith("rank: ") for why in result.rejected.values())


def test_production_decisions_are_recorded_with_their_label():
    make_queue("Q_A")
    make_queue("Q_B", pilot_hours_ago=4)

    result = broker(production_task())

    decision = BrokerageDecision.objects.get(pk=result.decision_id)
    assert decision.summary.startswith("production brokerage: all queues, 1 of 2 kept (Q_A ")
    assert decision.summary.endswith("; rejected 1: pilot 1")
