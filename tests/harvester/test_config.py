import json
from pathlib import Path

import pytest

from harvester.config import Config, ConfigError, config_from_dict, config_load

TOML = """
[harvester]
harvester_id = "site-harvester"
server_url = "https://panda.example.org:25443/"
token_file = "secrets/token"
database = "state/harvester.sqlite3"
workdir = "/scratch/workers"

[pilot]
pythonpath = "../src"
extra_args = ["-b"]
env = { PILOT_NOKILL = "1" }

[queues.SITE_UCORE]
plugin = { name = "slurm", partition = "grid" }
mode = "PULL"
maxWorkers = 100
nQueueLimitWorker = 20
resourceType = "SCORE"

[queues.SITE_PUSH]
mode = "push"
nQueueLimitJob = 5
truePilot = true
"""


def test_a_toml_file_configures_the_instance_the_pilots_and_every_queue(tmp_path):
    path = tmp_path / "etc" / "harvester.toml"
    path.parent.mkdir()
    path.write_text(TOML)

    config = config_load(str(path))

    assert (config.harvester_id, config.server_url) == ("site-harvester", "https://panda.example.org:25443")
    assert config.token_file == str(tmp_path / "etc" / "secrets" / "token")  # relative to the file
    assert config.database == str(tmp_path / "etc" / "state" / "harvester.sqlite3")
    assert config.workdir == "/scratch/workers"
    assert config.pilot.pythonpath == str(tmp_path / "src")
    assert config.pilot.url == "https://panda.example.org:25443"  # pilots use the server by default
    assert (config.pilot.extra_args, config.pilot.env) == (["-b"], {"PILOT_NOKILL": "1"})
    ucore = config.queue("SITE_UCORE")
    assert (ucore.plugin, ucore.plugin_args, ucore.mode) == ("slurm", {"partition": "grid"}, "PULL")
    assert (ucore.max_workers, ucore.n_queue_limit_worker, ucore.resource_type) == (100, 20, "SCORE")
    push = config.queue("SITE_PUSH")
    assert (push.plugin, push.mode, push.n_queue_limit_job, push.pull) == ("local", "PUSH", 5, False)


def test_a_json_file_works_the_same(tmp_path):
    path = tmp_path / "harvester.json"
    path.write_text(
        json.dumps(
            {
                "harvester": {"harvester_id": "h", "server_url": "http://127.0.0.1:8000"},
                "queues": {"Q": {"mode": "SHARED_FS"}},
            }
        )
    )

    config = config_load(str(path))

    assert config.queue("Q").shared_fs
    assert config.database == str(tmp_path / "harvester.sqlite3")


MINIMAL = {"harvester_id": "h", "server_url": "http://x"}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"harvester": {"server_url": "http://x"}}, "harvester.harvester_id is required"),
        ({"harvester": {"harvester_id": "h"}}, "harvester.server_url is required"),
        ({"harvester": {"harvester_id": "h" * 51, "server_url": "http://x"}}, "at most 50 characters"),
        ({"harvester": {"harvester_id": "h", "server_url": "http://x", "cycle": 1}}, "unknown key 'cycle'"),
        ({"harvester": {"harvester_id": "h", "server_url": "http://x", "cycle_seconds": "fast"}}, "must be a float"),
        ({"harvester": {"harvester_id": "h", "server_url": "http://x", "kill_workers_on_stop": 1}}, "must be a bool"),
        ({"queues": {}}, "at least one"),
        ({"queues": {"Q": {"mode": "PULLING"}}}, "mode must be one of"),
        ({"queues": {"Q": {"maxWorkers": "10"}}}, "queues.Q.maxWorkers must be a int"),
        ({"queues": {"Q": {"maxWorkers": True}}}, "queues.Q.maxWorkers must be a int"),
        ({"queues": {"Q": {"maxWorkers": -1}}}, "must not be negative"),
        ({"queues": {"Q": {"nQueueLimitWorkers": 1}}}, "unknown key 'nQueueLimitWorkers'"),
        ({"queues": {"Q": {"plugin": {"partition": "x"}}}}, "plugin name"),
        ({"queues": {"Q": {"pilotType": "XX"}}}, "pilotType"),
        ({"queues": {"Q": {"runMode": "master"}}}, "runMode"),
        ({"queues": {"Q": {"pilotArgs": "-b"}}}, "list of strings"),
        ({"pilot": {"env": {"A": 1}}}, "pilot.env"),
        ({"pilot": {"interpreter": "python"}}, "unknown key 'interpreter'"),
        ({"harvester": {**MINIMAL, "database": "postgres://h@db:x/h"}}, "not a PostgreSQL URL"),
        ({"harvester": {**MINIMAL, "database": "postgresql://h@db:5432"}}, "must name a database"),
    ],
)
def test_a_bad_configuration_is_refused_with_the_key_named(change, message):
    data = {"harvester": {"harvester_id": "h", "server_url": "http://127.0.0.1"}, "queues": {"Q": {}}}
    data.update(change)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgresql_url_is_kept_as_a_url_with_its_variables_expanded(tmp_path, monkeypatch, scheme):
    monkeypatch.setenv("HARVESTER_DB_PASSWORD", "s3cret")
    url = f"{scheme}://harvester:${{HARVESTER_DB_PASSWORD}}@db.example.org:5432/harvester_a?sslmode=require"
    data = {"harvester": {"harvester_id": "h", "server_url": "http://x", "database": url}, "queues": {"Q": {}}}

    config = config_from_dict(data, base_dir=str(tmp_path))

    assert config.database == f"{scheme}://harvester:s3cret@db.example.org:5432/harvester_a?sslmode=require"


def test_an_unreadable_or_malformed_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        config_load(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[harvester\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        config_load(str(bad))


def test_the_quick_starts_configuration_serves_the_demo_queues_and_kills_its_pilots_on_stop(monkeypatch):
    monkeypatch.setenv("PANDA_PORT", "8799")
    monkeypatch.setenv("PANDA_VAR_DIR", "/srv/demo/var")

    config = config_load(str(Path(__file__).resolve().parents[2] / "harvester" / "demo.toml"))

    assert set(config.queues) == {"DEMO_QUEUE", "DEMO_QUEUE_MCORE"}
    assert config.server_url == config.pilot.url == "http://127.0.0.1:8799"
    assert config.token_file == "/srv/demo/var/harvester/token"
    assert config.token_endpoint == "http://127.0.0.1:8799/idp/token"
    assert (config.client_id, config.client_secret_file) == (
        "panda-harvester",
        "/srv/demo/var/devidp/panda-harvester.secret",
    )
    assert config.origin == "atlas.production"
    assert config.kill_workers_on_stop is True
    assert Config.__dataclass_fields__["kill_workers_on_stop"].default is False
