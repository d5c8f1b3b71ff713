import json
import urllib.parse

from pilot import harvester
from pilot.cli import parse_args


def test_a_json_job_definition_is_consumed_and_a_copy_kept(tmp_path):
    source = tmp_path / "pandaJobData.out"
    source.write_text(json.dumps({"77": {"transformation": "run.sh", "attemptNr": 1}}))
    job = harvester.read_job_definition(str(source), str(tmp_path / "home"))
    assert job == {"PandaID": "77", "transformation": "run.sh", "attemptNr": 1}
    assert not source.exists()
    assert (tmp_path / "home" / "job_definition.json").exists()


def test_a_urlencoded_job_definition_is_understood(tmp_path):
    (tmp_path / "home").mkdir()
    source = tmp_path / "pandaJobData.out"
    source.write_text(urllib.parse.urlencode({"PandaID": "78", "jobPars": "a b"}))
    assert harvester.read_job_definition(str(source), str(tmp_path / "home")) == {"PandaID": "78", "jobPars": "a b"}


def test_the_definition_is_found_in_the_datadir_and_the_harvester_workdir(tmp_path, monkeypatch):
    monkeypatch.delenv("HARVESTER_WORKDIR", raising=False)
    args = parse_args(
        [
            "-q",
            "Q",
            "--pilot-user",
            "generic",
            "--harvester-datadir",
            str(tmp_path / "data"),
            "--harvester-workdir",
            str(tmp_path / "ap"),
        ]
    )
    (tmp_path / "ap").mkdir()
    assert harvester.locate_job_definition(args, str(tmp_path)) == ""
    (tmp_path / "ap" / "HPCJobs.json").write_text("{}")
    assert harvester.locate_job_definition(args, str(tmp_path)) == str(tmp_path / "ap" / "HPCJobs.json")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "pandaJobData.out").write_text("{}")
    assert harvester.locate_job_definition(args, str(tmp_path)).endswith("data/pandaJobData.out")


def test_reports_go_to_the_access_point(tmp_path):
    args = parse_args(["-q", "Q", "--pilot-user", "generic", "-z", "--harvester-workdir", str(tmp_path)])
    harvester.publish_work_report(args, "/nowhere", {"jobId": "1", "xml": "{}", "state": "running"}, "running")
    assert json.loads((tmp_path / "worker_attributes.json").read_text()) == {
        "jobId": "1",
        "state": "running",
        "jobStatus": "running",
    }
    harvester.publish_stageout_files(args, "/nowhere", "1", [{"type": "log", "path": "/x"}])
    assert json.loads((tmp_path / "event_status.dump.json").read_text()) == {"1": [{"type": "log", "path": "/x"}]}
    report = {"exitCode": 0, "executor": [{"name": "x", "logfileReport": {"big": 1}}]}
    harvester.publish_job_report(args, "/nowhere", json.dumps(report))
    assert json.loads((tmp_path / "jobReport.json").read_text())["executor"][0]["logfileReport"] == {}
    harvester.request_new_job(str(tmp_path))
    assert json.loads((tmp_path / "worker_requestjob.json").read_text()) == {"nJobs": 1}
    harvester.remove_job_request(str(tmp_path))
    harvester.kill_worker(str(tmp_path))
    assert (tmp_path / "kill_worker").exists()
    assert not (tmp_path / "worker_requestjob.json").exists()
