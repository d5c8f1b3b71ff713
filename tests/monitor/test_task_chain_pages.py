"""Task logs, task chain, its Gantt chart and the data flow (monitor.md §1 "Task", "Task chain / flow")."""

import datetime as dt
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.timeutil import utcnow
from apps.jedi.models import DatasetType, TaskCommand
from apps.jedi.services.transitions import task_change_status
from apps.jedi.states import TaskStatus
from tests.jedi_factories import TaskDatasetFactory, TaskFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 6, 1, 12, 0)


@pytest.fixture
def chain():
    """evgen 701 (done, its own parent as upstream writes it) -> simul 702 (running) -> reco 703 (ready);
    701 -> 704 (broken), which reads nothing of 701's outputs."""
    evgen = TaskFactory(
        jeditaskid=701,
        parent_tid=701,
        status=TaskStatus.DONE,
        taskname="mc23.evgen/",
        starttime=T0,
        endtime=T0 + dt.timedelta(hours=2),
    )
    simul = TaskFactory(
        jeditaskid=702,
        parent_tid=701,
        status=TaskStatus.RUNNING,
        taskname="mc23.simul/",
        starttime=T0 + dt.timedelta(hours=2),
    )
    reco = TaskFactory(jeditaskid=703, parent_tid=702, status=TaskStatus.READY, taskname="mc23.reco/")
    other = TaskFactory(
        jeditaskid=704,
        parent_tid=701,
        status=TaskStatus.BROKEN,
        taskname="mc23.other/",
        starttime=T0 + dt.timedelta(hours=1),
        endtime=T0 + dt.timedelta(hours=1, minutes=5),
    )
    TaskDatasetFactory(task=evgen, datasetname="mc23:mc23.TXT.in", type=DatasetType.INPUT)
    TaskDatasetFactory(task=evgen, datasetname="mc23:mc23.EVNT.e1", type=DatasetType.OUTPUT, streamname="OUTPUT0")
    TaskDatasetFactory(task=evgen, datasetname="mc23:mc23.log.e1", type=DatasetType.LOG, streamname="LOG0")
    TaskDatasetFactory(task=simul, datasetname="mc23.EVNT.e1", type=DatasetType.INPUT)
    TaskDatasetFactory(task=other, datasetname="mc23:mc23.TXT.other", type=DatasetType.INPUT)
    return {"evgen": evgen, "simul": simul, "reco": reco, "other": other}


def get_json(client, url):
    response = client.get(url + ("&" if "?" in url else "?") + "json")
    assert response.status_code == 200, response.content
    return response.json()


# --- /tasklogs/ ----------------------------------------------------------------------------------


@pytest.fixture
def logged_task():
    task = TaskFactory(jeditaskid=801, status=TaskStatus.READY)
    task_change_status(task, new=TaskStatus.PENDING, reason="input dataset mc23.EVNT.e1 is not ready")
    TaskCommand.objects.create(
        task=task,
        command="kill",
        status="done",
        owner="alice",
        comment="wrong input",
        result="killed",
        donetime=utcnow() + dt.timedelta(seconds=1),
    )
    return task


def test_tasklogs_merges_status_changes_and_commands_in_time_order(client, logged_task):
    data = get_json(client, "/tasklogs/801/")

    assert data["errordialog"] == "input dataset mc23.EVNT.e1 is not ready"
    assert [(event["source"], event["event"]) for event in data["timeline"]] == [
        ("status", "(new) -> ready"),
        ("status", "ready -> pending"),
        ("command", "kill requested"),
        ("command", "kill done"),
    ]
    assert data["timeline"][1]["detail"] == "input dataset mc23.EVNT.e1 is not ready"
    assert data["timeline"][2]["detail"] == "by alice; wrong input"
    assert [(c["command"], c["result"]) for c in data["commands"]] == [("kill", "killed")]


def test_tasklogs_html_shows_the_last_message_and_the_commands(client, logged_task):
    html = unescape(client.get("/tasklogs/801/").content.decode())

    assert "Last message: input dataset mc23.EVNT.e1 is not ready" in html
    assert "wrong input" in html


def test_tasklogs_of_an_unknown_task_is_404(client, db):
    assert client.get("/tasklogs/999999/?json").status_code == 404


# --- /taskchain/ ---------------------------------------------------------------------------------


@pytest.mark.parametrize("asked", [701, 702, 703])
def test_the_chain_is_the_same_tree_from_any_of_its_tasks(client, chain, asked):
    data = get_json(client, f"/taskchain/?jeditaskid={asked}")

    assert data["root"] == 701
    assert [(t["jeditaskid"], t["depth"]) for t in data["tasks"]] == [(701, 0), (702, 1), (703, 2), (704, 1)]
    assert {t["jeditaskid"]: t["children"] for t in data["tasks"]} == {701: [702, 704], 702: [703], 703: [], 704: []}
    assert data["selection"] == {"jeditaskid": str(asked)}


def test_a_task_without_parent_or_children_is_a_chain_of_one(client, db):
    TaskFactory(jeditaskid=750)

    data = get_json(client, "/taskchain/?jeditaskid=750")

    assert [t["jeditaskid"] for t in data["tasks"]] == [750]


def test_the_chain_html_marks_the_task_asked_for(client, chain):
    html = client.get("/taskchain/?jeditaskid=702").content.decode()

    assert '<tr class="current">' in html
    assert 'href="/task/703/"' in html


@pytest.mark.parametrize(
    ("query", "status"), [("", 400), ("jeditaskid=abc", 400), ("jeditaskid=1&x=2", 400), ("jeditaskid=424242", 404)]
)
def test_the_chain_pages_refuse_bad_queries(client, db, query, status):
    assert client.get(f"/taskchain/?{query}").status_code == status
    assert client.get(f"/ganttTaskChain/?{query}").status_code == status


def test_the_chain_costs_one_query_per_level_not_per_task(client, chain):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/taskchain/?jeditaskid=703&json").status_code == 200
        return len(captured)

    few = queries()
    for n in range(20):
        TaskFactory(jeditaskid=900 + n, parent_tid=702)
    assert queries() == few
    assert len(get_json(client, "/taskchain/?jeditaskid=703")["tasks"]) == 24


# --- /ganttTaskChain/ ----------------------------------------------------------------------------


def test_the_gantt_chart_spans_each_task_from_start_to_end(client, chain):
    data = get_json(client, "/ganttTaskChain/?jeditaskid=702")

    rows = {row["jeditaskid"]: row for row in data["tasks"]}
    assert (rows[701]["start"], rows[701]["end"], rows[701]["open"]) == (
        T0.isoformat(),
        (T0 + dt.timedelta(hours=2)).isoformat(),
        False,
    )
    assert rows[702]["open"] is True
    assert rows[704]["status"] == "broken"


def test_the_gantt_page_draws_one_bar_per_task(client, chain):
    html = client.get("/ganttTaskChain/?jeditaskid=701").content.decode()

    assert html.count('<rect class="span"') == 4
    assert "701: done" in html


# --- /taskflow/ ----------------------------------------------------------------------------------


def test_the_flow_links_inputs_outputs_and_the_children_through_the_dataset_they_read(client, chain):
    data = get_json(client, "/taskflow/701/")

    assert [d["datasetname"] for d in data["inputs"]] == ["mc23:mc23.TXT.in"]
    assert [d["datasetname"] for d in data["outputs"]] == ["mc23:mc23.EVNT.e1", "mc23:mc23.log.e1"]
    assert {c["jeditaskid"]: c["reads"] for c in data["children"]} == {702: ["mc23:mc23.EVNT.e1"], 704: []}
    assert data["edges"] == [
        {"from": "dataset:mc23:mc23.TXT.in", "to": "task:701"},
        {"from": "task:701", "to": "dataset:mc23:mc23.EVNT.e1"},
        {"from": "task:701", "to": "dataset:mc23:mc23.log.e1"},
        {"from": "dataset:mc23:mc23.EVNT.e1", "to": "task:702"},
        {"from": "task:701", "to": "task:704"},
    ]
    assert data["parent"] is None


def test_the_flow_of_a_child_names_its_parent(client, chain):
    data = get_json(client, "/taskflow/702/")

    assert data["parent"]["jeditaskid"] == 701
    assert data["edges"][0] == {"from": "task:701", "to": "task:702"}
    assert [c["jeditaskid"] for c in data["children"]] == [703]


def test_the_flow_html_links_datasets_and_child_flows(client, chain):
    html = unescape(client.get("/taskflow/701/").content.decode())

    assert 'href="/dataset/?datasetname=mc23:mc23.EVNT.e1"' in html
    assert 'href="/taskflow/702/"' in html


def test_the_flow_of_an_unknown_task_is_404(client, db):
    assert client.get("/taskflow/424242/").status_code == 404


def test_a_chain_longer_than_the_cap_is_cut_with_a_warning(client, chain, monkeypatch):
    from apps.monitor.selectors import task_chain as selectors

    monkeypatch.setattr(selectors, "MAX_TASKS", 3)

    data = get_json(client, "/taskchain/?jeditaskid=701")

    assert len(data["tasks"]) == 3
    assert data["truncated"] is True
    assert any("cut at 3 tasks" in warning for warning in data["warnings"])


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_tasklogs_and_the_flow_cost_as_many_queries_for_many_rows_as_for_few(client, chain, logged_task):
    urls = ["/tasklogs/801/", "/taskflow/701/"]
    few = [count_queries(client, url) for url in urls]
    for n in range(20):
        TaskCommand.objects.create(task=logged_task, command="retry", status="done", donetime=utcnow())
        child = TaskFactory(parent_tid=701)
        TaskDatasetFactory(task=child, datasetname="mc23:mc23.EVNT.e1", type=DatasetType.INPUT)
        TaskDatasetFactory(task=chain["evgen"], datasetname=f"mc23:mc23.EVNT.x{n}", type=DatasetType.OUTPUT)

    assert [count_queries(client, url) for url in urls] == few
    assert len(get_json(client, "/taskflow/701/")["children"]) == 22
