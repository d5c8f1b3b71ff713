import pytest
from django.test import Client

from apps.brokerage.services.decisions import decision_record
from apps.core.timeutil import format_wire_time
from tests.dispatcher.update_wire import as_plain_user, decode_json, v1
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db

URL = v1("task/get_brokerage_decisions")


def get(params: dict, headers: dict | None = None):
    return Client().get(URL, params, **(headers if headers is not None else as_plain_user()))


MEMORY_2000 = "memory: ramCount 4000 MB x corecount 1 = 4000 MB outside [0, 2000] (maxrss)"
MEMORY_3000 = "memory: ramCount 4000 MB x corecount 1 = 4000 MB outside [0, 3000] (maxrss)"


def test_the_newest_job_and_task_decisions_are_explained_with_rejections_grouped_by_filter():
    task = TaskFactory(status="pending", errordialog="no queue", site=None)
    decision_record(task_id=task.pk, chosen=[], rejected={"Q_OLD": "status: offline (not online)"}, summary="old")
    job = decision_record(
        task_id=task.pk,
        chosen=[{"queue": "Q_A", "weight": 0.5}, {"queue": "Q_B", "weight": 0.25}],
        rejected={
            "Q_C": MEMORY_2000,
            "Q_D": MEMORY_3000,
            "Q_E": "pilot: no pilot getJob ever recorded",
        },
        summary="generic brokerage: all queues, 2 of 5 kept",
    )
    nucleus = decision_record(
        task_id=task.pk, kind="task", chosen=[{"nucleus": "NUC_A", "weight": 1.0}], rejected={}, summary="nuclei"
    )

    response = get({"task_id": task.pk})

    assert response.status_code == 200
    body = decode_json(response)
    assert body["success"] is True
    data = body["data"]
    assert (data["jeditaskid"], data["status"], data["errordialog"]) == (task.pk, "pending", "no queue")
    assert data["job_brokerage"] == {
        "id": job.id,
        "kind": "job",
        "time": format_wire_time(job.creationtime),
        "summary": "generic brokerage: all queues, 2 of 5 kept",
        "kept": [{"name": "Q_A", "weight": 0.5}, {"name": "Q_B", "weight": 0.25}],
        "rejected": {
            "memory": [
                {"name": "Q_C", "reason": MEMORY_2000},
                {"name": "Q_D", "reason": MEMORY_3000},
            ],
            "pilot": [{"name": "Q_E", "reason": "pilot: no pilot getJob ever recorded"}],
        },
        "n_rejected": 3,
    }
    assert data["task_brokerage"]["kept"] == [{"name": "NUC_A", "weight": 1.0}]
    assert [item["id"] for item in data["recent"]] == [nucleus.id, job.id, job.id - 1]


def test_a_task_without_decisions_has_none():
    task = TaskFactory()

    data = decode_json(get({"task_id": task.pk}))["data"]

    assert data["job_brokerage"] is None
    assert data["task_brokerage"] is None
    assert data["recent"] == []


@pytest.mark.parametrize("task_id", ["123456789", "0", str(2**70)])
def test_an_unknown_task_is_not_found(task_id):
    assert decode_json(get({"task_id": task_id})) == {"success": False, "message": "Task not found", "data": None}


def test_the_task_id_is_required_and_must_be_a_number():
    assert decode_json(get({}))["message"] == "Argument error: missing required argument task_id"
    assert decode_json(get({"task_id": "abc"}))["message"] == "Argument error: task_id must be an integer, got 'abc'"


def test_an_anonymous_caller_is_refused():
    task = TaskFactory()

    response = get({"task_id": task.pk}, headers={})

    assert response.status_code == 403


def test_only_get_is_accepted():
    task = TaskFactory()

    response = Client().post(URL, {"task_id": task.pk}, **as_plain_user())

    assert decode_json(response) == {"success": False, "message": "expecting GET method, got POST", "data": None}
