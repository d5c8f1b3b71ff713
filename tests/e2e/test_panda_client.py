"""Compatibility suite: the real panda-client (requirements-dev.txt) against the live server.

Every call goes through panda-client's own Python API (``pandaclient.Client``) in a subprocess,
configured the way a user configures it: ``PANDA_URL``/``PANDA_URL_SSL`` point at the live server,
``PANDA_AUTH=oidc`` with ``PANDA_AUTH_VO`` makes it send ``Authorization: Bearer <token>`` and
``Origin: <vo>``. The tokens are real: ID tokens of the development identity provider, served by the
live server, obtained by the device-code flow over HTTP (device code, a person approving on the
``/idp/device`` page, token poll) for the demo accounts alice, bob and prodmgr; panda-client reads
them from ``OIDC_AUTH_TOKEN_FILE`` (its pre-obtained token file), refreshes its own token cache
through ``/auth/atlas_auth_config.json`` and the provider, or runs the device login itself.
``PANDA_BEHIND_REAL_LB`` stops it from resolving its cache server's host name (it would look up
pandacache.cern.ch otherwise).

The JEDI agents run in the test process, between the client's calls, and every answer is checked
against the database.
"""

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from apps.accounts.models import ExternalIdentity, User
from apps.devidp.models import DevAccount, RefreshToken, secret_hash
from apps.jedi.models import ContentStatus, DatasetContent, Task, TaskCommand, TaskDataset, TaskParams
from apps.jedi.services.commando import commando_run
from apps.jedi.services.contents_feeder import contents_feeder_run
from apps.jedi.services.postprocessor import postprocessor_run
from apps.jedi.services.refiner import refiner_run
from apps.jedi.services.transitions import task_change_status
from apps.jedi.states import TaskStatus
from tests.factories import PandaQueueFactory, queue_document
from tests.jedi_factories import ddm_dataset_with_files, task_params

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

T = TaskStatus
RUNNER = """
import json, sys
from pandaclient import Client
result = getattr(Client, sys.argv[1])(*json.loads(sys.argv[2]))
print("RESULT " + json.dumps(result, default=str))
"""


class PandaClient:
    """``pandaclient.Client.<function>(*args)`` run as a user would, as one identity."""

    def __init__(self, server_url: str, home: Path, token: str | None = None):
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PANDA", "OIDC_", "X509_"))}
        env.update(
            {
                "PANDA_URL": f"{server_url}/server/panda",
                "PANDA_URL_SSL": f"{server_url}/server/panda",
                "PANDACACHE_URL": f"{server_url}/server/panda",
                "PANDA_BEHIND_REAL_LB": "1",
                "PANDA_AUTH": "oidc",
                "PANDA_AUTH_VO": "atlas",
                "PANDA_CONFIG_ROOT": str(home),
                "HOME": str(home),
            }
        )
        if token is not None:
            token_file = home / "id_token"
            token_file.write_text(token)
            env["OIDC_AUTH_TOKEN_FILE"] = str(token_file)
        self.env = env
        self.home = home

    def __call__(self, function: str, *args):
        result = subprocess.run(
            [sys.executable, "-c", RUNNER, function, json.dumps(args)],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
        assert result.returncode == 0 and lines, result.stdout + result.stderr
        return json.loads(lines[-1][len("RESULT ") :])


def login(devidp, username: str) -> str:
    return devidp.device_login(username)["id_token"]


@pytest.fixture
def client(live_server, tmp_path, devidp):
    return PandaClient(live_server.url, tmp_path / "owner", login(devidp, "alice"))


@pytest.fixture
def stranger_client(live_server, tmp_path, devidp):
    return PandaClient(live_server.url, tmp_path / "stranger", login(devidp, "bob"))


@pytest.fixture
def production_client(live_server, tmp_path, devidp):
    """prodmgr is in atlas/production: with ``Origin: atlas`` the auto role gives it production."""
    return PandaClient(live_server.url, tmp_path / "production", login(devidp, "prodmgr"))


def user_of(devidp, username: str) -> User:
    """The server's user for a provider account: matched by (issuer, subject), created at first use."""
    subject = DevAccount.objects.get(username=username).subject
    return ExternalIdentity.objects.select_related("user").get(issuer=devidp.issuer, subject=subject).user


@pytest.fixture(autouse=True)
def grid():
    """A queue that can run the task and the input dataset in DDM."""
    PandaQueueFactory(name="Q_COMPAT", document=queue_document("Q_COMPAT", "SITE_COMPAT", maxrss=4000, maxtime=86400))
    ddm_dataset_with_files("mc23.EVNT.e1", 3)


def submit(client, name: str) -> int:
    status, (code, message) = client("insertTaskParams", task_params(taskName=name))
    assert (status, code) == (0, 0), message
    assert message.startswith("succeeded. new jediTaskID=")
    return int(message.rsplit("=", 1)[1])


def refine_and_feed(task_id: int) -> Task:
    refiner_run()
    contents_feeder_run()
    return Task.objects.get(pk=task_id)


def test_submit_read_kill_and_reload_a_task_with_panda_client(client, stranger_client, devidp):
    task_id = submit(client, "user.jdoe.compat.001/")

    owner = user_of(devidp, "alice")
    assert owner.username == "alice"
    task = Task.objects.get(pk=task_id)
    assert (task.status, task.username, task.tasktype) == (T.REGISTERED, "Alice Atlas", "anal")
    assert owner.panda_name == "Alice Atlas"
    assert json.loads(TaskParams.objects.get(task=task).taskparams)["userName"] == owner.panda_name
    assert client("getTaskStatus", task_id) == [0, "registered"]

    assert refine_and_feed(task_id).status == T.READY
    assert client("getTaskStatus", task_id) == [0, "ready"]
    status, details = client("getJediTaskDetails", {"jediTaskID": task_id}, True, True)
    assert status == 0
    assert details["jediTaskID"] == task_id
    assert details["status"] == "ready"
    assert details["inDS"] == "mc23:mc23.EVNT.e1"
    assert details["statistics"] == "tobedone*3"
    assert details["taskParams"]["taskName"] == "user.jdoe.compat.001/"
    assert client("getTaskParamsMap", task_id)[1]["userName"] == owner.panda_name
    assert client("getPandaIDsWithTaskID", task_id) == [0, []]
    status, datasets = client("get_files_in_datasets", task_id)
    assert status == 0
    assert [len(entry["files"]) for entry in datasets] == [3]
    assert {f["status"] for f in datasets[0]["files"]} == {"ready"}
    status, recent = client("getJobIDsJediTasksInTimeRange", "2000-01-01 00:00:00")
    assert status == 0 and list(recent) == [str(task_id)]

    # Somebody else may not kill it; the owner may.
    assert stranger_client("killTask", task_id) == [
        0,
        [False, "Permission denied: not the task owner or no production role"],
    ]
    assert not TaskCommand.objects.exists()
    assert client("killTask", task_id) == [0, [True, 0]]
    assert list(TaskCommand.objects.values_list("task_id", "command", "status")) == [(task_id, "kill", "queued")]

    commando_run()
    assert client("getTaskStatus", task_id) == [0, "toabort"]
    postprocessor_run()
    assert client("getTaskStatus", task_id) == [0, "aborted"]

    # An aborted task cannot be retried (states.md §8), but its input can be reloaded.
    status, (code, message) = client("retryTask", task_id)
    assert (status, code) == (0, 4)
    assert message == "Command rejected: the retry command is not accepted if the task is in aborted status"
    assert client("reload_input", task_id) == [0, [True, 0]]
    commando_run()
    assert client("getTaskStatus", task_id) == [0, "rerefine"]
    assert set(TaskDataset.objects.filter(task_id=task_id, type="input").values_list("status", flat=True)) == {
        "toupdate"
    }


def test_retry_a_failed_task_and_pause_and_resume_it_with_panda_client(client, production_client):
    task_id = submit(client, "user.jdoe.compat.002/")
    task = refine_and_feed(task_id)
    assert task.status == T.READY
    # The task's jobs all failed for good: the feedback left every input failed.
    DatasetContent.objects.filter(task=task).update(status=ContentStatus.FAILED, attemptnr=3, maxattempt=3)
    TaskDataset.objects.filter(task=task, type="input").update(nfilesused=3, nfilesfailed=3)
    task_change_status(task, new=T.PREPARED, reason="all inputs processed")
    postprocessor_run()
    assert client("getTaskStatus", task_id) == [0, "failed"]

    status, (code, message) = client("retryTask", task_id)
    assert (status, code) == (0, 0)
    assert message == f"command=retry is registered for task ID {task_id}. will be executed in a few minutes"
    commando_run()

    assert client("getTaskStatus", task_id) == [0, "ready"]
    rows = DatasetContent.objects.filter(task_id=task_id)
    assert set(rows.values_list("status", "maxattempt")) == {("ready", 6)}

    # pause/resume need the production role.
    assert client("pauseTask", task_id)[1][0] is False
    assert production_client("pauseTask", task_id) == [0, [True, 0]]
    commando_run()
    assert client("getTaskStatus", task_id) == [0, "paused"]
    assert production_client("resumeTask", task_id) == [0, [True, 0]]
    commando_run()
    assert client("getTaskStatus", task_id) == [0, "ready"]
    assert production_client("increase_attempt_nr", task_id, 2) == [0, [True, 0]]
    assert set(rows.values_list("maxattempt", flat=True)) == {8}


def test_panda_client_refreshes_its_cached_token_through_the_development_provider(
    live_server, tmp_path, devidp, settings
):
    # Tokens that live less than panda-client's 5-minute margin: the cached one must be refreshed.
    settings.PANDA_DEVIDP_ID_TOKEN_SECONDS = 240
    home = tmp_path / "cached"
    home.mkdir()
    cached = devidp.device_login("alice")
    (home / ".token").write_text(json.dumps(cached))  # what panda-client's own device login leaves
    client = PandaClient(live_server.url, home)

    task_id = submit(client, "user.alice.refreshed.001/")

    assert Task.objects.get(pk=task_id).username == "Alice Atlas"
    refreshed = json.loads((home / ".token").read_text())
    assert refreshed["refresh_token"] != cached["refresh_token"]
    assert refreshed["id_token"] != cached["id_token"]
    assert RefreshToken.objects.get(token_hash=secret_hash(cached["refresh_token"])).used


def test_panda_client_logs_in_by_itself_with_the_device_flow_of_the_provider(live_server, tmp_path, devidp):
    home = tmp_path / "device"
    client = PandaClient(live_server.url, home)  # no token: panda-client runs its device login
    params = task_params(taskName="user.bob.device.001/")
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "insertTaskParams", json.dumps([params])],
        cwd=home,
        env={**client.env, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(120, process.kill)
    watchdog.start()
    try:
        seen = []
        for line in process.stdout:
            seen.append(line)
            link = re.search(r"Please go to (\S+) and sign in", line)
            if link:
                break
        assert link, "".join(seen)
        assert link.group(1).startswith(f"{devidp.issuer}/device?user_code=")
        devidp.approve(link.group(1), "bob")  # in the browser
        process.stdin.write("y\n")  # "Ready to get ID token? [y/n]"
        process.stdin.flush()
        output = process.stdout.read()
        assert process.wait() == 0, "".join(seen) + output
    finally:
        watchdog.cancel()

    [result] = [line for line in output.splitlines() if line.startswith("RESULT ")]
    status, (code, message) = json.loads(result[len("RESULT ") :])
    assert (status, code) == (0, 0), message
    task = Task.objects.get(pk=int(message.rsplit("=", 1)[1]))
    assert task.username == "Bob Atlas"
    cached = json.loads((home / ".token").read_text())  # panda-client's token cache, for its next calls
    assert set(cached) >= {"id_token", "refresh_token", "access_token"}
