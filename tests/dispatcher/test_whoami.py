"""``GET /api/v1/system/whoami``: the caller's identity and, for an action, whether it is allowed and why."""

import base64
import datetime as dt
import json

import pytest
from django.test import Client

from tests.dispatcher.iam_callers import working_group_manager
from tests.dispatcher.update_wire import decode_json, v1
from tests.factories import JobFactory, UserFactory, auth_header, robot_auth_header
from tests.jedi_factories import TaskFactory

pytestmark = pytest.mark.django_db

WHOAMI = v1("system/whoami")


def whoami(headers: dict, **params) -> dict:
    response = Client().get(WHOAMI, params, **headers)
    assert response.status_code == 200, response.content
    return decode_json(response)


def token_claims(headers: dict) -> dict:
    payload = headers["HTTP_AUTHORIZATION"].split()[1].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def user_headers(user):
    return auth_header(user)


@pytest.fixture
def owner_name(user_headers) -> str:
    return whoami(user_headers)["data"]["compact_name"]


def test_whoami_answers_who_the_caller_is(user, user_headers):
    body = whoami(user_headers)

    data = body["data"]
    assert body["success"] is True
    assert body["message"] == f"authenticated as {user.get_full_name()}"
    assert data["authenticated"] is True
    assert data["user"] == user.username
    assert data["compact_name"] == user.get_full_name()
    assert data["dn"].endswith(f"/CN=nickname:{user.username}")
    assert data["method"] == "oidc"
    assert data["vo"] == "atlas"
    assert data["role"] is None
    assert "atlas" in [group.strip("/") for group in data["groups"]]
    assert (data["production"], data["pilot"], data["robot"]) == (False, False, False)
    assert data["production_working_groups"] == []


def test_whoami_shows_the_token_expiry_as_iso_utc(user_headers):
    expires = whoami(user_headers)["data"]["expires"]

    moment = dt.datetime.fromisoformat(expires)
    assert moment.utcoffset() == dt.timedelta(0)
    assert moment.timestamp() == token_claims(user_headers)["exp"]


def test_whoami_never_echoes_the_token(user_headers):
    response = Client().get(WHOAMI, **user_headers)

    token = user_headers["HTTP_AUTHORIZATION"].split()[1]
    assert token not in response.content.decode()
    assert token.split(".")[1] not in response.content.decode()


def test_whoami_shows_the_production_role_and_its_fqan():
    data = whoami(auth_header(UserFactory(), role="production"))["data"]

    assert data["role"] == "production"
    assert "/atlas/Role=production" in data["fqans"]
    assert (data["production"], data["robot"]) == (True, False)


@pytest.mark.parametrize(
    ("client_id", "role", "production", "pilot"),
    [("panda-pilot", "pilot", False, True), ("panda-harvester", "production", True, False)],
)
def test_whoami_marks_robots_and_their_role(client_id, role, production, pilot):
    data = whoami(robot_auth_header(client_id, role))["data"]

    assert (data["robot"], data["role"], data["production"], data["pilot"]) == (True, role, production, pilot)
    assert f"/atlas/Role={role}" in data["fqans"]


def test_whoami_shows_the_working_groups_a_caller_has_production_for():
    manager = working_group_manager("phys-higgs")
    job = JobFactory(jobstatus="running", produsername="Someone", workinggroup="phys-higgs")

    data = whoami(manager.headers, action="set_debug_mode", pandaid=job.pandaid)["data"]

    assert "/atlas/phys-higgs/Role=production" in data["fqans"]
    assert (data["production"], data["production_working_groups"]) == (False, ["phys-higgs"])
    assert data["reason"] == "production role of working group phys-higgs: 0 of at most 10 active debug jobs"


def test_an_anonymous_caller_is_told_it_is_anonymous():
    body = whoami({})

    assert body["success"] is True
    assert body["message"] == "anonymous"
    assert body["data"] == {
        "authenticated": False,
        "user": None,
        "compact_name": None,
        "dn": None,
        "method": "none",
        "vo": None,
        "role": None,
        "groups": [],
        "fqans": [],
        "production": False,
        "pilot": False,
        "robot": False,
        "production_working_groups": [],
        "expires": None,
    }


def test_an_anonymous_caller_asking_about_an_action_is_told_it_must_authenticate():
    task = TaskFactory(status="running")

    data = whoami({}, action="kill_task", jeditaskid=task.jeditaskid)["data"]

    assert (data["action"], data["allowed"], data["reason"]) == (
        "kill_task",
        False,
        "an authenticated identity is required",
    )


# --- actions on real tasks and jobs ---------------------------------------------------------------


def decision(headers: dict, **params) -> tuple:
    data = whoami(headers, **params)["data"]
    return data["action"], data["allowed"], data["reason"]


def test_the_owner_may_kill_its_task_and_a_stranger_is_told_why_not(user_headers, owner_name):
    task = TaskFactory(username=owner_name, status="running")

    assert decision(user_headers, action="kill_task", jeditaskid=task.jeditaskid) == ("kill_task", True, "task owner")
    assert decision(auth_header(UserFactory()), action="kill_task", jeditaskid=task.jeditaskid) == (
        "kill_task",
        False,
        f"not the task owner ('{owner_name}') and no production role",
    )


def test_retrying_an_exhausted_task_is_refused_to_its_owner_and_allowed_to_production(user_headers, owner_name):
    task = TaskFactory(username=owner_name, status="exhausted")
    manager = auth_header(UserFactory(), role="production")

    assert decision(user_headers, action="retry_task", jeditaskid=task.jeditaskid) == (
        "retry_task",
        False,
        "retrying an exhausted task needs the production role",
    )
    assert decision(manager, action="retry_task", jeditaskid=task.jeditaskid) == (
        "retry_task",
        True,
        "production role (retrying an exhausted task)",
    )


def test_killing_a_user_job_is_explained_with_the_code_production_may_use(owner_name):
    job = JobFactory(prodsourcelabel="user", produsername=owner_name)
    manager = auth_header(UserFactory(), role="production")

    assert decision(manager, action="kill_job", pandaid=job.pandaid, code=9) == (
        "kill_job",
        True,
        "production role with code 9 for a user job",
    )
    _, allowed, reason = decision(manager, action="kill_job", pandaid=job.pandaid, code=3)
    assert (allowed, reason.startswith("production may kill user jobs only with codes 2, 4, 7")) == (False, True)


def test_debug_mode_is_explained_with_the_owners_current_count(user_headers, owner_name):
    job = JobFactory(jobstatus="running", produsername=owner_name)
    assert decision(user_headers, action="set_debug_mode", pandaid=job.pandaid) == (
        "set_debug_mode",
        True,
        "job owner: 0 of at most 3 active debug jobs",
    )

    for _ in range(3):
        JobFactory(jobstatus="running", produsername=owner_name, specialhandling="dm")

    assert decision(user_headers, action="set_debug_mode", pandaid=job.pandaid) == (
        "set_debug_mode",
        False,
        "job owner: the limit of 3 active debug jobs is reached (3 active)",
    )


def test_get_jobs_is_explained_for_the_label_and_the_api_generation():
    pilot = robot_auth_header("panda-pilot", "pilot")

    assert decision(pilot, action="get_jobs", prodSourceLabel="managed", legacy="true") == (
        "get_jobs",
        True,
        "pilot role: jobs of any label through the legacy getJob",
    )
    assert decision(pilot, action="get_jobs", prodSourceLabel="managed")[1:] == (
        False,
        "prodSourceLabel=managed needs the production role; the pilot role suffices only for legacy getJob",
    )


def test_submitting_is_explained_for_the_label(user_headers, owner_name):
    assert decision(user_headers, action="submit_task", prodSourceLabel="user")[1:] == (
        True,
        f"authenticated: submitted as an anal task owned by {owner_name}",
    )
    assert decision(user_headers, action="submit_jobs", prodSourceLabel="managed")[1:] == (
        False,
        f"{owner_name} is missing production for prodSourceLabel=managed submission",
    )


def test_actions_about_nothing_in_particular_need_no_context(user_headers):
    assert decision(user_headers, action="add_sweep_command") == (
        "add_sweep_command",
        False,
        "commanding Harvester needs the production role",
    )
    assert decision(user_headers, action="harvester_heartbeat") == ("harvester_heartbeat", True, "authenticated caller")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"action": "fly"}, "Argument error: unknown action 'fly'"),
        ({"action": "kill_task"}, "Argument error: this action needs jeditaskid"),
        ({"action": "kill_job"}, "Argument error: this action needs pandaid"),
        ({"action": "kill_task", "jeditaskid": 987654}, "jeditaskid=987654 not found"),
        ({"action": "kill_task", "jeditaskid": 2**63}, f"jeditaskid={2**63} not found"),
        ({"action": "set_debug_mode", "pandaid": 987654}, "pandaid=987654 not found"),
        ({"action": "kill_job", "pandaid": 0}, "pandaid=0 not found"),
        ({"action": "set_command", "pandaid": 1, "code": 9}, "Argument error: action set_command takes no code"),
        ({"action": "kill_task", "jeditaskid": 1, "pandaid": 1}, "Argument error: action kill_task takes no pandaid"),
        ({"action": "get_jobs", "jeditaskid": 1}, "Argument error: action get_jobs takes no jeditaskid"),
        ({"jeditaskid": "x"}, "Argument error: jeditaskid must be an integer, got 'x'"),
        ({"whatever": "1"}, "Argument error: unexpected keyword argument(s) whatever"),
    ],
)
def test_a_question_the_server_cannot_answer_is_refused_clearly(user_headers, params, message):
    body = whoami(user_headers, **params)

    assert body["success"] is False
    assert body["message"].startswith(message)
    assert body["data"] is None


def test_whoami_must_be_a_get(user_headers):
    body = decode_json(Client().post(WHOAMI, **user_headers))

    assert (body["success"], body["message"].startswith("expecting GET")) == (False, True)


def test_a_banned_user_gets_403_even_from_whoami(settings, user, user_headers):
    settings.PANDA_BANNED_USERS = [user.get_full_name()]

    response = Client().get(WHOAMI, **user_headers)

    assert response.status_code == 403
    assert response.content.decode() == f"ERROR : {user.get_full_name()} is banned"
