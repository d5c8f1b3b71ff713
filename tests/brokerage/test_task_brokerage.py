import random

import pytest

from apps.brokerage.models import BrokerageDecision
from apps.brokerage.services.task_brokerage import nucleus_brokerage
from apps.ddm.models import Replica
from apps.jedi.plugins import task_broker
from apps.jedi.states import TaskStatus
from tests.brokerage.grid import production_task
from tests.factories import SiteFactory, StorageEndpointFactory
from tests.jedi_factories import TaskDatasetFactory, ddm_dataset_with_files

pytestmark = pytest.mark.django_db

ALL_ACTIVITIES = [["read_lan", 1], ["write_lan", 1], ["read_wan", 1], ["write_wan", 1]]


def nucleus(name: str, *, cloud="CERN", role="nucleus", state="ACTIVE", activities=None, tape=False):
    site = SiteFactory(name=name, cloud=cloud, role=role)
    protocols = {"1": {"endpoint": "file://localhost", "path": "/tmp/se", "activities": activities or ALL_ACTIVITIES}}
    StorageEndpointFactory(
        name=f"{name}_{'TAPE' if tape else 'DATADISK'}", site=site, state=state, is_tape=tape, rprotocols=protocols
    )
    return site


def task_reading(dataset: str, **fields):
    task = production_task(status=TaskStatus.ASSIGNING, **fields)
    TaskDatasetFactory(task=task, datasetname=f"mc23:{dataset}")
    return task


def test_the_task_broker_plugin_is_the_nucleus_brokerage():
    assert task_broker(production_task()) is nucleus_brokerage


def test_without_any_nucleus_there_is_no_choice_and_the_decision_says_so():
    SiteFactory(name="PLAIN_SITE")

    result = nucleus_brokerage(production_task())

    assert result.nucleus is None
    assert result.rejected == {}
    decision = BrokerageDecision.objects.get(pk=result.decision_id)
    assert decision.kind == "task"
    assert decision.summary == "nucleus brokerage: no site has role nucleus"


def test_only_sites_marked_as_nucleus_are_considered():
    nucleus("SATELLITE", role="satellite")
    nucleus("NUC_A")

    result = nucleus_brokerage(production_task())

    assert result.nucleus == "NUC_A"
    assert result.rejected == {}


def test_a_nucleus_needs_an_active_disk_endpoint():
    nucleus("NUC_OK")
    nucleus("NUC_DOWN", state="OFFLINE")
    nucleus("NUC_TAPE_ONLY", tape=True)

    result = nucleus_brokerage(production_task())

    assert result.nucleus == "NUC_OK"
    assert result.rejected == {
        "NUC_DOWN": "storage: no ACTIVE disk endpoint (NUC_DOWN_DATADISK OFFLINE)",
        "NUC_TAPE_ONLY": "storage: no disk storage endpoint",
    }


def test_a_nucleus_needs_wan_read_and_write():
    nucleus("NUC_OK")
    nucleus("NUC_LAN", activities=[["read_lan", 1], ["write_lan", 1], ["read_wan", 1]])

    result = nucleus_brokerage(production_task())

    assert result.nucleus == "NUC_OK"
    assert result.rejected == {
        "NUC_LAN": "wan: no ACTIVE disk endpoint allows read_wan and write_wan (NUC_LAN_DATADISK lacks write_wan)"
    }


def test_a_task_with_a_cloud_gets_a_nucleus_of_that_cloud():
    nucleus("NUC_DE", cloud="DE")
    nucleus("NUC_FR", cloud="FR")

    result = nucleus_brokerage(production_task(cloud="DE"))

    assert result.nucleus == "NUC_DE"
    assert result.rejected == {"NUC_FR": "cloud: nucleus cloud FR is not the task's cloud DE"}


def test_the_nucleus_holding_the_input_is_chosen_and_nuclei_without_any_are_rejected():
    nucleus("NUC_A")
    nucleus("NUC_B")
    nucleus("NUC_C")
    ddm_dataset_with_files("mc23.EVNT.t1", 3, endpoint="NUC_B_DATADISK")
    task = task_reading("mc23.EVNT.t1")

    result = nucleus_brokerage(task)

    assert result.nucleus == "NUC_B"
    assert result.rejected == {
        "NUC_A": "data: 0 B of 3.0 MB input on its disk endpoints (NUC_B holds 3.0 MB)",
        "NUC_C": "data: 0 B of 3.0 MB input on its disk endpoints (NUC_B holds 3.0 MB)",
    }


def test_nuclei_holding_part_of_the_input_are_kept_with_a_lower_weight():
    nucleus("NUC_ALL")
    nucleus("NUC_SOME")
    dataset = ddm_dataset_with_files("mc23.EVNT.t2", 4, endpoint="NUC_ALL_DATADISK")
    first = dataset.files.order_by("lfn").first()
    Replica.objects.create(file=first, endpoint="NUC_SOME_DATADISK")
    task = task_reading("mc23.EVNT.t2")

    result = nucleus_brokerage(task)

    assert result.nucleus == "NUC_ALL"
    decision = BrokerageDecision.objects.get(pk=result.decision_id)
    assert decision.chosen == [{"nucleus": "NUC_ALL", "weight": 1.0}, {"nucleus": "NUC_SOME", "weight": 0.25}]


def test_without_input_anywhere_every_usable_nucleus_weighs_the_same_and_ties_are_shuffled():
    for name in ("NUC_A", "NUC_B", "NUC_C"):
        nucleus(name)
    task = task_reading("mc23.EVNT.nowhere")

    picks = {nucleus_brokerage(task, rng=random.Random(seed)).nucleus for seed in range(12)}

    assert picks == {"NUC_A", "NUC_B", "NUC_C"}


def test_the_summary_says_free_space_was_not_checked():
    nucleus("NUC_A")
    nucleus("NUC_DOWN", state="OFFLINE")

    result = nucleus_brokerage(production_task())

    summary = BrokerageDecision.objects.get(pk=result.decision_id).summary
    assert summary == (
        "nucleus brokerage: 2 nuclei, chose NUC_A (weight 1); rejected 1: storage 1; "
        "free space and transfer backlog not checked (storage endpoints carry no space information)"
    )
