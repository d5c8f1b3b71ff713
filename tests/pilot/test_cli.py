import pytest

from pilot.cli import parse_args


def test_it_parses_the_pilot_3_option_subset_with_its_defaults():
    args = parse_args(["-q", "Q1", "--pilot-user", "generic"])
    assert args.queue == "Q1"
    assert args.workflow == "generic"
    assert args.job_label == "ptest"
    assert args.version_tag == "PR"
    assert args.getjob_requests == 2
    assert args.getjob_failures == 5
    assert args.lifetime == 324000
    assert args.port == 25443
    assert args.cleanup is True
    assert args.allow_same_user is True
    assert args.update_server is True
    assert args.api == "v1"


def test_it_accepts_the_harvester_launch_arguments():
    args = parse_args(
        [
            "-s",
            "SITE",
            "-r",
            "SITE",
            "-q",
            "Q1",
            "-j",
            "unified",
            "-i",
            "PR",
            "-t",
            "-w",
            "generic",
            "--pilot-user",
            "generic",
            "--url",
            "https://panda.example.org",
            "-d",
            "--harvester-submit-mode",
            "PULL",
            "--allow-same-user=False",
            "--job-type=unified",
            "--resource-type",
            "SCORE",
            "--piloturl",
            "http://x",
        ]
    )
    assert args.job_label == "unified"
    assert args.verify_proxy is False
    assert args.debug is True
    assert args.allow_same_user is False
    assert args.job_type == "unified"
    assert args.resource_type == "SCORE"
    assert args.ignored == ["--piloturl", "http://x"]


def test_push_mode_tolerates_twelve_getjob_failures_by_default():
    args = parse_args(["-q", "Q", "--pilot-user", "generic", "--harvester-submit-mode", "push"])
    assert args.push
    assert args.getjob_failures == 12


def test_it_reads_boolean_values_and_base_urls(monkeypatch):
    monkeypatch.setenv("PANDA_BASE_URLS", "http://a/trf/, http://b/")
    args = parse_args(["-q", "Q", "--pilot-user", "generic", "--cleanup", "false", "-z", "-k", "-b", "-y"])
    assert args.cleanup is False
    assert args.update_server is False
    assert args.update_worker_status is False
    assert args.cvmfs_check is False
    assert args.token_renewal is False
    assert args.base_urls == ["http://a/trf/", "http://b/"]


def test_it_refuses_a_missing_queue_and_a_bad_boolean():
    with pytest.raises(SystemExit):
        parse_args(["--pilot-user", "generic"])
    with pytest.raises(SystemExit):
        parse_args(["-q", "Q", "--pilot-user", "generic", "--cleanup", "maybe"])


def test_harvester_mode_follows_pilot_3_rules(monkeypatch):
    monkeypatch.delenv("HARVESTER_ID", raising=False)
    monkeypatch.delenv("HARVESTER_WORKER_ID", raising=False)
    assert parse_args(["-q", "Q", "--pilot-user", "g", "-z", "--harvester-workdir", "/ap"]).harvester
    assert not parse_args(["-q", "Q", "--pilot-user", "g", "--harvester-workdir", "/ap"]).harvester
    monkeypatch.setenv("HARVESTER_ID", "h1")
    assert parse_args(["-q", "Q", "--pilot-user", "g", "--harvester-submit-mode", "PUSH"]).harvester
    assert not parse_args(["-q", "Q", "--pilot-user", "g"]).harvester
