import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.service import AlreadyRunning, service_lock
from harvester.store import Store
from tests.harvester.conftest import postgres_url, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]


def config_file(tmp_path, database: str = "", **queue) -> str:
    path = tmp_path / "h.json"
    path.write_text(
        json.dumps(
            {
                "harvester": {
                    "harvester_id": "cli",
                    "server_url": "http://127.0.0.1:9",
                    "http_timeout": 2,
                    "cycle_seconds": 0.1,
                    **({"database": database} if database else {}),
                },
                "queues": {"Q1": {"maxWorkers": 2, **queue}},
            }
        )
    )
    return str(path)


def test_check_says_what_the_configuration_serves(tmp_path, capsys):
    assert main(["check", "-c", config_file(tmp_path)]) == 0
    assert capsys.readouterr().out == "Q1: PULL via local, at most 2 workers\n"


def test_a_bad_configuration_stops_the_command_with_its_reason(tmp_path, capsys):
    assert main(["check", "-c", config_file(tmp_path, mode="SIDEWAYS")]) == 2
    assert "queues.Q1.mode must be one of" in capsys.readouterr().err


def test_cycles_run_and_stop_even_without_a_server_and_leave_a_store(tmp_path, capsys):
    path = config_file(tmp_path)
    assert main(["cycle", "-n", "2", "-c", path, "--log-file", str(tmp_path / "h.log")]) == 0
    assert (tmp_path / "harvester.sqlite3").exists()
    assert "Harvester cli stopped after 2 cycles" in (tmp_path / "h.log").read_text()
    assert main(["workers", "-c", path]) == 0
    assert capsys.readouterr().out == ""


def test_cycles_record_the_instance_in_the_configured_store(tmp_path, store_database, capsys):
    path = config_file(tmp_path, database=store_database)
    assert main(["cycle", "-n", "1", "-c", path, "--log-file", str(tmp_path / "h.log")]) == 0
    store = Store(store_database)
    assert store.state_get("harvester_id") == "cli"
    store.close()
    assert main(["workers", "-c", path]) == 0
    assert capsys.readouterr().out == ""


def test_one_store_serves_one_running_harvester(store_database):
    with service_lock(store_database, "H1"), pytest.raises(AlreadyRunning), service_lock(store_database, "H1"):
        pass
    with service_lock(store_database, "H1"):  # released: free again
        pass


def test_a_second_run_on_a_locked_store_stops_with_the_reason(tmp_path, store_database, capsys):
    path = config_file(tmp_path, database=store_database)
    with service_lock(store_database, "cli"):
        assert main(["cycle", "-c", path, "--log-file", str(tmp_path / "h.log")]) == 1
    assert "harvester: another Harvester" in capsys.readouterr().err


def test_a_store_of_another_harvester_is_refused(tmp_path, store_database, capsys):
    store = Store(store_database)
    store.claim("someone-else")
    store.close()
    path = config_file(tmp_path, database=store_database)
    assert main(["cycle", "-c", path, "--log-file", str(tmp_path / "h.log")]) == 1
    assert "holds the state of Harvester 'someone-else', not 'cli'" in capsys.readouterr().err


@pytest.mark.postgres
def test_a_postgresql_database_that_is_not_there_stops_the_service_with_the_reason(tmp_path, capsys):
    path = config_file(tmp_path, database=postgres_url(f"harvester_absent_{os.getpid()}"))
    assert main(["cycle", "-c", path, "--log-file", str(tmp_path / "h.log")]) == 1
    assert "harvester: cannot connect to postgresql://" in capsys.readouterr().err


@pytest.mark.postgres
def test_on_postgresql_the_lock_is_per_harvester_id_and_names_its_holder(postgres_store_url):
    with service_lock(postgres_store_url, "H1"):
        held = (
            r"another Harvester 'H1' is running on postgresql://.* "
            rf"\(held by PostgreSQL session \d+ \(harvester H1 pid {os.getpid()} on "
        )
        with pytest.raises(AlreadyRunning, match=held), service_lock(postgres_store_url, "H1"):
            pass
        with service_lock(postgres_store_url, "H2"):  # another instance takes another lock
            pass


@pytest.mark.postgres
def test_a_killed_harvester_frees_its_postgresql_lock(postgres_store_url):
    code = (
        "import sys, time\nfrom harvester.service import service_lock\n"
        "with service_lock(sys.argv[1], 'H1'):\n    print('held', flush=True)\n    time.sleep(600)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, postgres_store_url], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(AlreadyRunning), service_lock(postgres_store_url, "H1"):
            pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()

    def free() -> bool:
        try:
            with service_lock(postgres_store_url, "H1"):
                return True
        except AlreadyRunning:
            return False

    wait_for(free, timeout=10, what="PostgreSQL to end the killed holder's session")


def test_a_postgresql_store_without_psycopg_stops_the_service_saying_what_to_install(tmp_path):
    path = config_file(tmp_path, database="postgresql://harvester@127.0.0.1:5432/harvester")
    code = (
        "import sys; sys.modules['psycopg'] = None  # not installed\n"
        f"from harvester.cli import main\nsys.exit(main(['cycle', '-c', {path!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 1
    assert "a PostgreSQL database needs psycopg 3: pip install 'psycopg[binary]'" in result.stderr


def test_the_package_runs_as_a_module_and_imports_nothing_from_the_server(tmp_path):
    code = (
        f"import sys, runpy; sys.argv = ['harvester', 'check', '-c', {config_file(tmp_path)!r}]\n"
        "try:\n    runpy.run_module('harvester', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'apps', 'rest_framework', 'psycopg'))\n"
        "print(code, bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stderr
