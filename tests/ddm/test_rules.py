import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection

from apps.core.timeutil import utcnow
from apps.ddm.embedded import EmbeddedDDM
from apps.ddm.models import Dataset, DatasetFile, Replica, Rule
from apps.ddm.names import deterministic_path
from apps.ddm.services.rules import rules_process
from apps.ddm.tasks import run_ddm_rules
from tests.ddm.storage import dataset_on, file_on, local_endpoint
from tests.factories import StorageEndpointFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def disks(tmp_path):
    return local_endpoint("SRC_DATADISK", tmp_path / "src"), local_endpoint("DST_DATADISK", tmp_path / "dst")


def rule_for(dataset: str, endpoint: str, activity: str = "replicate") -> Rule:
    return Rule.objects.get(pk=EmbeddedDDM().create_rule(dataset, endpoint, activity=activity))


def fresh(rule: Rule) -> Rule:
    return Rule.objects.get(pk=rule.pk)


def replica_at(f, endpoint: str) -> Replica | None:
    return Replica.objects.filter(file=f, endpoint=endpoint).first()


def test_a_replicate_rule_copies_every_missing_file_and_becomes_ok(disks, tmp_path):
    source, destination = disks
    dataset = dataset_on(source, "mc23.EVNT.a", 3)
    rule = rule_for("mc23.EVNT.a", destination.name)

    summary = rules_process()

    rule = fresh(rule)
    assert (rule.state, rule.locks_ok, rule.locks_replicating, rule.locks_stuck, rule.error) == ("ok", 3, 0, 0, "")
    assert (summary.claimed, summary.ok, summary.copied) == (1, 1, 3)
    for f in dataset.files.all():
        replica = replica_at(f, destination.name)
        copy = tmp_path / "dst" / deterministic_path(f.scope, f.lfn)
        assert (replica.state, replica.pfn) == ("available", str(copy))
        assert copy.read_bytes() == Path(replica_at(f, source.name).pfn).read_bytes()
    assert str(summary) == "ddm rules: claimed=1 ok=1 replicating=0 stuck=0 copied=3 lost=0 errors=0"


def test_files_already_on_the_destination_are_not_copied_again(disks):
    source, destination = disks
    dataset = dataset_on(source, "mc23.EVNT.a", 2)
    first = dataset.files.order_by("lfn").first()
    file_on(destination, scope="mc23", lfn=first.lfn)
    rule = rule_for("mc23.EVNT.a", destination.name)

    summary = rules_process()

    assert (fresh(rule).state, fresh(rule).locks_ok, summary.copied) == ("ok", 2, 1)


def test_an_ok_rule_is_left_alone_by_the_next_pass(disks):
    source, destination = disks
    dataset_on(source, "mc23.EVNT.a", 1)
    rule_for("mc23.EVNT.a", destination.name)
    rules_process()

    assert rules_process().claimed == 0


def test_a_file_without_a_source_makes_the_rule_stuck_with_the_file_named(disks):
    source, destination = disks
    dataset = dataset_on(source, "mc23.EVNT.a", 2)
    lost = dataset.files.order_by("lfn").last()
    Replica.objects.filter(file=lost).delete()
    rule = rule_for("mc23.EVNT.a", destination.name)

    summary = rules_process()

    rule = fresh(rule)
    assert (rule.state, rule.locks_ok, rule.locks_stuck) == ("stuck", 1, 1)
    assert f"mc23:{lost.lfn} (no available replica on another disk endpoint)" in rule.error
    assert rule.stuck_since is not None
    assert (summary.stuck, summary.copied) == (1, 1)


def test_a_stuck_rule_is_retried_later_and_recovers_when_a_source_appears(disks):
    source, destination = disks
    dataset = dataset_on(source, "mc23.EVNT.a", 1)
    f = dataset.files.get()
    Replica.objects.filter(file=f).update(state="unavailable")
    rule = rule_for("mc23.EVNT.a", destination.name)
    rules_process()
    stuck_since = fresh(rule).stuck_since

    assert rules_process(retry_stuck_after=600).claimed == 0
    Rule.objects.filter(pk=rule.pk).update(modificationtime=utcnow() - timedelta(seconds=601))
    rules_process()
    assert (fresh(rule).state, fresh(rule).stuck_since) == ("stuck", stuck_since)

    Replica.objects.filter(file=f).update(state="available")
    Rule.objects.filter(pk=rule.pk).update(modificationtime=utcnow() - timedelta(seconds=601))
    rules_process()

    rule = fresh(rule)
    assert (rule.state, rule.stuck_since, rule.error, rule.locks_stuck) == ("ok", None, "", 0)


def test_a_copy_that_does_not_match_the_catalogue_is_discarded_and_the_rule_stuck(disks, tmp_path):
    source, destination = disks
    dataset = dataset_on(source, "mc23.EVNT.a", 1)
    f = dataset.files.get()
    Path(replica_at(f, source.name).pfn).write_bytes(b"corrupted")
    rule_for("mc23.EVNT.a", destination.name)

    rules_process()

    rule = Rule.objects.get()
    assert rule.state == "stuck"
    assert "size mismatch" in rule.error
    assert replica_at(f, destination.name) is None
    assert [p for p in (tmp_path / "dst").rglob("*") if p.is_file()] == []


def test_a_checksum_mismatch_is_caught_even_when_the_size_is_right(disks):
    source, destination = disks
    dataset = dataset_on(source, "mc23.EVNT.a", 1)
    f = dataset.files.get()
    path = Path(replica_at(f, source.name).pfn)
    path.write_bytes(b"x" * path.stat().st_size)
    rule_for("mc23.EVNT.a", destination.name)

    rules_process()

    assert "adler32 mismatch" in Rule.objects.get().error
    assert replica_at(f, destination.name) is None


def test_a_stage_rule_recalls_from_tape_and_a_replicate_rule_does_not(tmp_path):
    tape = local_endpoint("CERN_TAPE", tmp_path / "tape", is_tape=True)
    disk = local_endpoint("DST_DATADISK", tmp_path / "dst")
    dataset = dataset_on(tape, "mc23.RAW.a", 2)
    replicate = rule_for("mc23.RAW.a", disk.name)
    stage = rule_for("mc23.RAW.a", disk.name, activity="stage")
    Rule.objects.filter(pk=stage.pk).update(modificationtime=utcnow() - timedelta(seconds=1))

    rules_process(limit=1)
    assert (fresh(stage).state, fresh(stage).locks_ok) == ("ok", 2)
    assert all(replica_at(f, disk.name).state == "available" for f in dataset.files.all())

    rules_process()
    assert fresh(replicate).state == "ok"  # the staged copies satisfy it as well


def test_a_replicate_rule_with_only_tape_copies_is_stuck(tmp_path):
    tape = local_endpoint("CERN_TAPE", tmp_path / "tape", is_tape=True)
    disk = local_endpoint("DST_DATADISK", tmp_path / "dst")
    dataset_on(tape, "mc23.RAW.a", 1)
    rule = rule_for("mc23.RAW.a", disk.name)

    rules_process()

    assert fresh(rule).state == "stuck"
    assert "another disk endpoint" in fresh(rule).error


def test_a_non_deterministic_destination_keeps_the_source_layout(tmp_path):
    source = local_endpoint("SRC_DATADISK", tmp_path / "src")
    destination = local_endpoint("DST_SCRATCH", tmp_path / "dst", deterministic=False)
    f = file_on(source, scope="mc23", lfn="a.root", relative="runs/2024/a.root")
    DatasetFile.objects.create(dataset=Dataset.objects.create(scope="mc23", name="mc23.EVNT.a"), file=f)
    rule_for("mc23.EVNT.a", destination.name)

    rules_process()

    assert (tmp_path / "dst" / "runs" / "2024" / "a.root").is_file()
    assert replica_at(f, destination.name).pfn == str(tmp_path / "dst" / "runs" / "2024" / "a.root")


def test_a_destination_that_is_not_local_storage_makes_the_rule_stuck(disks):
    source, _ = disks
    StorageEndpointFactory(
        name="REMOTE_DATADISK", rprotocols={"1": {"endpoint": "davs://se.example.org:443", "path": "/dpm"}}
    )
    dataset_on(source, "mc23.EVNT.a", 2)
    rule = rule_for("mc23.EVNT.a", "REMOTE_DATADISK")

    rules_process()

    rule = fresh(rule)
    assert (rule.state, rule.locks_stuck) == ("stuck", 2)
    assert "no local file:// path" in rule.error


def test_a_source_that_is_not_local_storage_is_skipped_for_one_that_is(disks, tmp_path):
    source, destination = disks
    StorageEndpointFactory(name="AAA_REMOTE", rprotocols={"1": {"endpoint": "root://x", "path": "/x"}})
    dataset = dataset_on(source, "mc23.EVNT.a", 1)
    Replica.objects.create(file=dataset.files.get(), endpoint="AAA_REMOTE", pfn="root://x/x/a")
    rule = rule_for("mc23.EVNT.a", destination.name)

    rules_process()

    assert fresh(rule).state == "ok"


def test_a_large_rule_is_worked_through_in_passes(disks):
    source, destination = disks
    dataset_on(source, "mc23.EVNT.a", 5)
    rule = rule_for("mc23.EVNT.a", destination.name)

    first = rules_process(files_per_rule=2)
    assert (fresh(rule).state, fresh(rule).locks_ok, fresh(rule).locks_replicating) == ("replicating", 2, 3)
    rules_process(files_per_rule=2)
    rules_process(files_per_rule=2)

    assert (fresh(rule).state, fresh(rule).locks_ok, first.replicating) == ("ok", 5, 1)


def test_a_rule_on_a_container_copies_the_files_of_its_datasets(disks):
    source, destination = disks
    dataset_on(source, "mc23.EVNT.a", 1)
    dataset_on(source, "mc23.EVNT.b", 2)
    catalogue = EmbeddedDDM()
    catalogue.attach("mc23.EVNT.all", "mc23.EVNT.a")
    catalogue.attach("mc23.EVNT.all", "mc23.EVNT.b")
    rule = rule_for("mc23.EVNT.all", destination.name)

    rules_process()

    assert (fresh(rule).state, fresh(rule).locks_ok) == ("ok", 3)
    assert catalogue.dataset_locations("mc23.EVNT.all")[destination.name][0] == 3


def test_a_rule_leased_by_another_worker_is_claimed_only_after_the_lease_expires(disks):
    source, destination = disks
    dataset_on(source, "mc23.EVNT.a", 1)
    rule = rule_for("mc23.EVNT.a", destination.name)
    Rule.objects.filter(pk=rule.pk).update(locked_by="other", lock_expires=utcnow() + timedelta(minutes=5))

    assert rules_process().claimed == 0
    Rule.objects.filter(pk=rule.pk).update(lock_expires=utcnow() - timedelta(seconds=1))
    assert rules_process().ok == 1
    assert (fresh(rule).locked_by, fresh(rule).lock_expires) == ("", None)


def test_a_worker_that_lost_its_lease_does_not_write_the_rule_state(disks, monkeypatch):
    from apps.ddm.services import rules

    source, destination = disks
    dataset_on(source, "mc23.EVNT.a", 1)
    rule = rule_for("mc23.EVNT.a", destination.name)
    real = rules._replicate

    def replicate_while_another_worker_takes_over(*args, **kwargs):
        Rule.objects.filter(pk=rule.pk).update(locked_by="someone-else")
        return real(*args, **kwargs)

    monkeypatch.setattr(rules, "_replicate", replicate_while_another_worker_takes_over)

    summary = rules_process()

    assert (summary.lost, fresh(rule).state, fresh(rule).locked_by) == (1, "replicating", "someone-else")


def test_suspended_rules_are_not_processed(disks):
    source, destination = disks
    dataset_on(source, "mc23.EVNT.a", 1)
    rule = rule_for("mc23.EVNT.a", destination.name)
    Rule.objects.filter(pk=rule.pk).update(state="suspended")

    assert rules_process().claimed == 0


def test_the_celery_task_and_the_command_run_the_agent(disks, capsys):
    source, destination = disks
    dataset_on(source, "mc23.EVNT.a", 1)
    dataset_on(source, "mc23.EVNT.b", 1)
    rule_for("mc23.EVNT.a", destination.name)

    assert run_ddm_rules.delay().get().startswith("ddm rules: claimed=1 ok=1")
    rule_for("mc23.EVNT.b", destination.name)
    call_command("run_ddm_rules", "--limit", "5")
    assert "claimed=1 ok=1" in capsys.readouterr().out


def test_the_agent_is_in_the_beat_table_every_minute():
    assert ("apps.ddm.tasks.run_ddm_rules", 60) in django_settings.BEAT_TABLE


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_several_workers_at_once_satisfy_each_rule_once(tmp_path):
    source = local_endpoint("SRC_DATADISK", tmp_path / "src")
    destination = local_endpoint("DST_DATADISK", tmp_path / "dst")
    rules = []
    for i in range(12):
        dataset_on(source, f"mc23.EVNT.p{i}", 2)
        rules.append(rule_for(f"mc23.EVNT.p{i}", destination.name))
    workers = 4
    barrier = threading.Barrier(workers)
    summaries = []

    def work(name):
        try:
            barrier.wait()
            summaries.append((name, rules_process(limit=2, worker_name=name)))
            summaries.append((name, rules_process(limit=2, worker_name=name)))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    leftover = rules_process(limit=100)

    summaries_only = [s for _, s in summaries]
    assert sum(s.errors + s.lost for s in summaries_only) == 0
    assert len({name for name, s in summaries if s.claimed}) >= 2
    assert sum(s.ok for s in summaries_only) + leftover.ok == 12
    assert sum(s.copied for s in summaries_only) + leftover.copied == 24
    assert set(Rule.objects.values_list("state", flat=True)) == {"ok"}
    assert Replica.objects.filter(endpoint=destination.name, state="available").count() == 24
