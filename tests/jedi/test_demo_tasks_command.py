from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.jedi.models import Task
from apps.jedi.states import TaskStatus
from apps.jobs.management import demo_loop
from apps.sites.services.demo_grid import demo_grid_load


@pytest.fixture
def demo_grid(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return demo_grid_load()


def run(*args: str) -> str:
    out = StringIO()
    call_command("demo_tasks", *args, stdout=out)
    return out.getvalue()


def test_one_round_submits_a_task_of_each_kind_and_says_where_the_demo_tasks_and_jobs_are(demo_grid):
    out = run("--once", "--server-url", "http://127.0.0.1:8765")

    score, mcore = Task.objects.filter(status=TaskStatus.REGISTERED).order_by("jeditaskid")
    assert (score.corecount, mcore.corecount) == (1, 8)
    assert out.startswith(
        f"demo_tasks: score: jediTaskID={score.jeditaskid} submitted; mcore: jediTaskID={mcore.jeditaskid} submitted"
    )
    assert "| demo tasks: registered 2 | jobs: none" in out


def test_a_kind_can_be_chosen_and_the_task_size_set(demo_grid):
    run("--once", "--kind", "mcore", "--files", "6")

    [task] = Task.objects.all()
    assert task.corecount == 8
    assert "NX=6" in task.splitrule


def test_the_loop_submits_a_new_task_only_once_the_previous_one_of_its_kind_ended(demo_grid, monkeypatch):
    rounds = []

    def sleep(seconds):
        rounds.append(seconds)
        if len(rounds) == 2:
            Task.objects.filter(corecount=1).update(status=TaskStatus.DONE)
        if len(rounds) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(demo_loop.time, "sleep", sleep)

    out = run("--interval", "5")

    assert rounds == [5.0, 5.0, 5.0]
    assert sorted(Task.objects.values_list("corecount", "status")) == [
        (1, TaskStatus.DONE),
        (1, TaskStatus.REGISTERED),
        (8, TaskStatus.REGISTERED),
    ]
    assert out.count("demo_tasks:") == 3


def test_it_refuses_to_run_before_the_demo_grid_is_loaded(db):
    with pytest.raises(CommandError, match="DEMO_QUEUE.*load_demo_grid"):
        run("--once")

    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "0"], "--interval must be positive"),
        (["--files", "0"], "--files must be between 1 and 20"),
        (["--files", "21"], "--files must be between 1 and 20"),
        (["--max-events", "-1"], "--max-events must not be negative"),
        (["--server-url", "127.0.0.1:8000"], "--server-url must start with http"),
    ],
)
def test_bad_options_are_refused_and_submit_nothing(demo_grid, args, message):
    with pytest.raises(CommandError, match=message):
        run("--once", *args)

    assert not Task.objects.exists()
