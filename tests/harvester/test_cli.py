import json
import subprocess
import sys
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.service import AlreadyRunning, service_lock

REPO_ROOT = Path(__file__).resolve().parents[2]


def config_file(tmp_path, **queue) -> str:
    path = tmp_path / "h.json"
    path.write_text(
        json.dumps(
            {
                "harvester": {
                    "harvester_id": "cli",
                    "server_url": "http://127.0.0.1:9",
                    "http_timeout": 2,
                    "cycle_seconds": 0.1,
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


def test_one_store_serves_one_running_harvester(tmp_path):
    database = str(tmp_path / "h.sqlite3")
    with service_lock(database), pytest.raises(AlreadyRunning), service_lock(database):
        pass
    with service_lock(database):  # released: free again
        pass


def test_the_package_runs_as_a_module_and_imports_nothing_from_the_server(tmp_path):
    code = (
        f"import sys, runpy; sys.argv = ['harvester', 'check', '-c', {config_file(tmp_path)!r}]\n"
        "try:\n    runpy.run_module('harvester', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'apps', 'rest_framework'))\n"
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
