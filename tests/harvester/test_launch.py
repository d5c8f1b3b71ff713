from harvester.launch import pilot_arguments, pilot_environment, pilot_script
from harvester.store import WorkSpec
from tests.harvester.conftest import harvester_config


def worker_for(config, queue="Q1") -> WorkSpec:
    return WorkSpec(
        worker_id=7,
        queue=queue,
        status="pending",
        mode=config.queue(queue).mode,
        plugin="local",
        access_point="/work/ap/7",
    )


def test_a_pull_pilot_gets_the_arguments_of_the_spec(tmp_path):
    config = harvester_config(
        tmp_path,
        resourceType="SCORE",
        prodSourceLabel="managed",
        jobType="managed",
        harvester={"token_file": "/etc/token", "origin": "atlas"},
    )
    args = pilot_arguments(config, config.queue("Q1"), worker_for(config))

    assert args[:12] == ["-s", "Q1", "-r", "Q1", "-q", "Q1", "-j", "managed", "-i", "PR", "-t", "-w"]
    for expected in (
        ["--pilot-user", "generic"],
        ["--url", "http://127.0.0.1:9", "-d"],
        ["--harvester-submit-mode", "PULL", "--allow-same-user=False"],
        ["--job-type=managed"],
        ["--resource-type", "SCORE"],
        ["-a", "/work/ap/7"],
    ):
        start = args.index(expected[0])
        assert args[start : start + len(expected)] == expected
    env = pilot_environment(config, config.queue("Q1"), worker_for(config))
    assert env["HARVESTER_ID"] == "unit-harvester" and env["HARVESTER_WORKER_ID"] == "7"
    assert env["PANDA_JSID"] == "harvester-unit-harvester"
    assert env["GTAG"] == "file:///work/ap/7/pilot.stdout"
    assert (env["OIDC_AUTH_TOKEN"], env["OIDC_AUTH_ORIGIN"]) == ("/etc/token", "atlas")


def test_a_push_pilot_reads_its_job_from_the_access_point(tmp_path):
    config = harvester_config(tmp_path, mode="PUSH")
    args = pilot_arguments(config, config.queue("Q1"), worker_for(config))

    assert args[args.index("--harvester-submit-mode") : args.index("--harvester-submit-mode") + 4] == [
        "--harvester-submit-mode",
        "PUSH",
        "--harvester-datadir",
        "/work/ap/7",
    ]
    assert "--url" in args


def test_a_shared_filesystem_pilot_has_no_server_and_no_credential(tmp_path):
    config = harvester_config(tmp_path, mode="SHARED_FS", harvester={"token_file": "/etc/token"})
    queue = config.queue("Q1")
    args = pilot_arguments(config, queue, worker_for(config))
    env = pilot_environment(config, queue, worker_for(config))

    assert "-z" in args and "--url" not in args
    assert args[args.index("--harvester-workdir") + 1] == "/work/ap/7"
    assert args[args.index("--queuedata-url") + 1] == "/work/ap/7/queuedata.json"
    assert args[args.index("--baseurls") + 1] == "http://127.0.0.1:9"
    assert env["HARVESTER_WORKDIR"] == "/work/ap/7" and "OIDC_AUTH_TOKEN" not in env


def test_queue_and_instance_arguments_come_last(tmp_path):
    config = harvester_config(tmp_path, pilotArgs=["--lifetime", "600"])
    config.pilot.extra_args = ["-b"]
    assert pilot_arguments(config, config.queue("Q1"), worker_for(config))[-3:] == ["-b", "--lifetime", "600"]


def test_the_script_quotes_everything_and_records_the_exit_code(tmp_path):
    config = harvester_config(tmp_path, pilot_env={"ODD": "a b'c"})
    script = pilot_script(config, config.queue("Q1"), worker_for(config), header="#SBATCH --ntasks=1\n")

    assert script.startswith("#!/bin/sh\n#SBATCH --ntasks=1\n")
    assert "export ODD='a b'\"'\"'c'" in script
    assert "mv exit_code.tmp exit_code" in script
