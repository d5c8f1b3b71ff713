import json
import pickle

import pytest
from django.test import Client

from apps.jedi.models import Task, TaskCommand
from apps.jedi.states import TaskStatus
from tests.dispatcher.update_wire import (
    as_plain_user,
    as_production,
    decode_json,
    legacy,
    post_form,
    post_gzip_json_v1,
    post_json,
    v1,
)
from tests.factories import PandaQueueFactory, queue_document
from tests.jedi_factories import ddm_dataset_with_files, task_params

pytestmark = pytest.mark.django_db

SUBMIT = v1("task/submit")
INSERT = legacy("insertTaskParams")


@pytest.fixture(autouse=True)
def world():
    ddm_dataset_with_files("mc23.EVNT.e1", 2)
    PandaQueueFactory(name="Q1", document=queue_document("Q1", "SITE1", maxrss=4000, maxtime=86400))


def unpickle(response):
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    # panda-client 1.x: pickle.loads on the text re-encoded, as its MiscUtils.pickle_loads does
    return pickle.loads(response.content.decode().encode("utf-8"), encoding="latin1")


# --- v1 task/submit ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "send",
    [
        lambda params, headers: post_json(SUBMIT, {"task_parameters": params}, headers),
        lambda params, headers: post_json(SUBMIT, {"task_parameters": json.dumps(params)}, headers),
        lambda params, headers: post_gzip_json_v1(SUBMIT, {"task_parameters": params}, headers),
        lambda params, headers: post_form(SUBMIT, {"task_parameters": json.dumps(params)}, headers),
    ],
    ids=["json-object", "json-string", "gzip", "form"],
)
def test_task_submit_registers_the_task_and_answers_its_id(send):
    body = decode_json(send(task_params(), as_plain_user()))

    task = Task.objects.get()
    assert body == {"success": True, "message": f"succeeded. new jediTaskID={task.jeditaskid}", "data": task.jeditaskid}
    assert task.status == TaskStatus.REGISTERED


def test_task_submit_records_the_parent():
    parent = decode_json(post_json(SUBMIT, {"task_parameters": task_params()}, as_plain_user()))["data"]
    params = task_params(taskName="user.jdoe.child/")
    body = decode_json(post_json(SUBMIT, {"task_parameters": params, "parent_tid": parent}, as_plain_user()))
    assert body["success"] is True and Task.objects.get(pk=body["data"]).parent_tid == parent


def test_task_submit_answers_code_3_with_success_for_an_incremental_execution():
    headers = as_plain_user()
    first = decode_json(post_json(SUBMIT, {"task_parameters": task_params()}, headers))["data"]
    Task.objects.filter(pk=first).update(status=TaskStatus.DONE)

    body = decode_json(post_json(SUBMIT, {"task_parameters": task_params()}, headers))

    assert body == {"success": True, "message": f"succeeded. new jediTaskID={first}", "data": first}
    assert TaskCommand.objects.get().command == "incexec"


@pytest.mark.parametrize(
    ("prepare", "params", "code", "message"),
    [
        (None, task_params(ramCount=-5), 4, "refused: ramCount must be at least 0, got -5"),
        (None, task_params(ramCount=9000), 4, "no queue can run the task: Q1: ramCount 9000 MB"),
        ("registered", task_params(), 1, "is already registered as jediTaskID="),
        ("running", task_params(uniqueTaskName=True), 2, "is still running as jediTaskID="),
        ("limit", task_params(taskName="user.jdoe.next/"), 10, "too many active tasks"),
    ],
    ids=["bad-parameters", "resources", "duplicate-request", "duplicate-task", "too-many"],
)
def test_task_submit_refusals_answer_success_false_with_the_code_in_data(settings, prepare, params, code, message):
    headers = as_plain_user()
    if prepare:
        first = decode_json(post_json(SUBMIT, {"task_parameters": task_params()}, headers))["data"]
        if prepare == "running":
            Task.objects.filter(pk=first).update(status=TaskStatus.RUNNING)
        if prepare == "limit":
            settings.PANDA_MAX_ACTIVE_TASKS_PER_USER = 1
    before = Task.objects.count()

    body = decode_json(post_json(SUBMIT, {"task_parameters": params}, headers))

    assert body["success"] is False and body["data"] == code and message in body["message"]
    assert Task.objects.count() == before


def test_task_submit_with_an_unknown_parent_answers_code_11():
    body = decode_json(post_json(SUBMIT, {"task_parameters": task_params(), "parent_tid": 424242}, as_plain_user()))
    assert body == {"success": False, "message": "parent task jediTaskID=424242 not found", "data": 11}


def test_task_submit_refuses_parameters_that_are_not_a_json_object():
    body = decode_json(post_json(SUBMIT, {"task_parameters": "{not json"}, as_plain_user()))
    assert body == {"success": False, "message": "refused: the task parameters must be a JSON object", "data": 4}
    body = decode_json(post_json(SUBMIT, {"task_parameters": [1, 2]}, as_plain_user()))
    assert body["data"] == 4 and not Task.objects.exists()


def test_task_submit_needs_its_parameters():
    body = decode_json(post_json(SUBMIT, {}, as_plain_user()))
    assert body == {
        "success": False,
        "message": "Argument error: missing required argument task_parameters",
        "data": None,
    }


def test_task_submit_must_be_a_post():
    body = decode_json(Client().get(SUBMIT, {"task_parameters": "{}"}, **as_plain_user()))
    assert body["success"] is False and body["message"].startswith("expecting POST")


def test_task_submit_needs_an_authenticated_caller():
    response = post_json(SUBMIT, {"task_parameters": task_params()}, {})
    assert response.status_code == 403 and response.content.decode().startswith("ERROR : ")
    assert not Task.objects.exists()


def test_a_production_caller_may_submit_a_managed_task_a_user_may_not():
    params = task_params(prodSourceLabel="managed", userName="prodsys", taskType="prod", taskPriority=800)
    body = decode_json(post_json(SUBMIT, {"task_parameters": params}, as_production()))
    task = Task.objects.get(pk=body["data"])
    assert (task.username, task.prodsourcelabel, task.taskpriority) == ("prodsys", "managed", 800)
    body = decode_json(post_json(SUBMIT, {"task_parameters": {**params, "taskName": "x/"}}, as_plain_user()))
    assert body["data"] == 4 and "production role" in body["message"]


# --- legacy insertTaskParams -------------------------------------------------------------------


def test_insert_task_params_answers_a_pickled_code_and_message_with_proper_error_code():
    response = post_form(INSERT, {"taskParams": json.dumps(task_params()), "properErrorCode": "True"}, as_plain_user())

    task = Task.objects.get()
    assert unpickle(response) == (0, f"succeeded. new jediTaskID={task.jeditaskid}")


def test_insert_task_params_answers_true_or_false_without_proper_error_code():
    headers = as_plain_user()
    ok = unpickle(post_form(INSERT, {"taskParams": json.dumps(task_params())}, headers))
    assert ok[0] is True and ok[1].startswith("succeeded. new jediTaskID=")
    duplicate = unpickle(post_form(INSERT, {"taskParams": json.dumps(task_params())}, headers))
    assert duplicate[0] is False and "already registered" in duplicate[1]


def test_insert_task_params_carries_the_refusal_codes():
    headers = as_plain_user()
    form = {"taskParams": json.dumps(task_params(walltime=-1)), "properErrorCode": "True"}
    assert unpickle(post_form(INSERT, form, headers)) == (4, "refused: walltime must be at least 0, got -1")
    form = {"taskParams": json.dumps(task_params()), "properErrorCode": "True", "parent_tid": "777"}
    assert unpickle(post_form(INSERT, form, headers)) == (11, "parent task jediTaskID=777 not found")
    form = {"taskParams": "{broken", "properErrorCode": "True"}
    assert unpickle(post_form(INSERT, form, headers)) == (4, "refused: the task parameters must be a JSON object")
    form = {"taskParams": json.dumps(task_params()), "properErrorCode": "True", "parent_tid": "abc"}
    assert unpickle(post_form(INSERT, form, headers)) == (4, "refused: parent_tid must be an integer, got 'abc'")
    assert not Task.objects.exists()


def test_insert_task_params_records_the_parent():
    headers = as_plain_user()
    parent = unpickle(post_form(INSERT, {"taskParams": json.dumps(task_params())}, headers))
    parent_id = int(parent[1].rsplit("=", 1)[1])
    form = {"taskParams": json.dumps(task_params(taskName="user.jdoe.child/")), "parent_tid": str(parent_id)}
    code, message = unpickle(post_form(INSERT, form, headers))
    assert code is True and Task.objects.get(pk=int(message.rsplit("=", 1)[1])).parent_tid == parent_id


def test_insert_task_params_escapes_non_ascii_text_so_the_pickle_stays_ascii():
    form = {"taskParams": json.dumps(task_params(ramCountUnit="Mé")), "properErrorCode": "True"}
    response = post_form(INSERT, form, as_plain_user())
    response.content.decode("ascii")
    code, message = unpickle(response)
    assert code == 4 and message.endswith("got 'M\\xe9'")


def test_insert_task_params_needs_an_authenticated_caller():
    response = post_form(INSERT, {"taskParams": json.dumps(task_params())}, {})
    assert unpickle(response) == (False, "secure connection with an authenticated identity is required")
    assert not Task.objects.exists()
