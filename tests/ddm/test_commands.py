import zlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.ddm.embedded import EmbeddedDDM
from apps.ddm.models import DataFile, Dataset, Replica
from tests.ddm.storage import dataset_on, local_endpoint
from tests.factories import StorageEndpointFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def disk(tmp_path):
    return local_endpoint("LOCAL_DATADISK", tmp_path / "se")


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_files_and_directories_on_the_endpoint_are_registered_with_size_checksum_guid_and_replica(disk, tmp_path):
    one = write(tmp_path / "se" / "in" / "a.root", b"alpha" * 100)
    two = write(tmp_path / "se" / "in" / "sub" / "b.root", b"beta")
    write(tmp_path / "se" / "in" / ".c.root.part", b"partial copy")
    three = write(tmp_path / "se" / "c.root", b"gamma")

    out = run(
        "ddm_register_dataset", "user.jdoe:user.jdoe.in.001", str(tmp_path / "se" / "in"), str(three),
        "--endpoint", "LOCAL_DATADISK", "--nevents", "10",
    )  # fmt: skip

    assert "user.jdoe:user.jdoe.in.001: 3 file(s) found, 3 newly attached on LOCAL_DATADISK" in out
    files = {f.lfn: f for f in EmbeddedDDM().list_files("user.jdoe.in.001")}
    assert sorted(files) == ["a.root", "b.root", "c.root"]
    a = files["a.root"]
    assert (a.scope, a.fsize, a.adler32, a.nevents) == ("user.jdoe", 500, f"{zlib.adler32(b'alpha' * 100):08x}", 10)
    assert len(a.guid) == 36 and a.guid == a.guid.upper()
    pfns = dict(Replica.objects.filter(endpoint="LOCAL_DATADISK").values_list("file__lfn", "pfn"))
    assert pfns == {"a.root": str(one), "b.root": str(two), "c.root": str(three)}


def test_registering_again_changes_nothing_and_keeps_the_guids(disk, tmp_path):
    write(tmp_path / "se" / "a.root", b"alpha")
    run("ddm_register_dataset", "mc23:mc23.EVNT.x", str(tmp_path / "se"), "--endpoint", "LOCAL_DATADISK")
    guid = DataFile.objects.get().guid

    out = run("ddm_register_dataset", "mc23:mc23.EVNT.x", str(tmp_path / "se"), "--endpoint", "LOCAL_DATADISK")

    assert "1 file(s) found, 0 newly attached" in out
    assert (DataFile.objects.get().guid, Replica.objects.count()) == (guid, 1)


def test_a_dataset_can_be_attached_to_a_container_at_registration(disk, tmp_path):
    write(tmp_path / "se" / "a.root", b"alpha")

    out = run(
        "ddm_register_dataset", "mc23.EVNT.x", str(tmp_path / "se" / "a.root"),
        "--endpoint", "LOCAL_DATADISK", "--container", "mc23.EVNT.all/",
    )  # fmt: skip

    assert "attached to container mc23.EVNT.all/" in out
    assert EmbeddedDDM().get_dataset("mc23.EVNT.all").nfiles == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--endpoint", "NOWHERE"], "unknown storage endpoint 'NOWHERE'"),
        (["--endpoint", "REMOTE_DATADISK"], "has no local file:// path"),
        (["--endpoint", "LOCAL_DATADISK", "--nevents", "-1"], "--nevents"),
    ],
)
def test_a_bad_endpoint_or_event_count_is_refused_and_nothing_is_written(disk, tmp_path, args, message):
    StorageEndpointFactory(name="REMOTE_DATADISK", rprotocols={"1": {"endpoint": "davs://x", "path": "/x"}})
    write(tmp_path / "se" / "a.root", b"alpha")

    with pytest.raises(CommandError, match=message):
        run("ddm_register_dataset", "mc23.EVNT.x", str(tmp_path / "se"), *args)

    assert (Dataset.objects.count(), DataFile.objects.count()) == (0, 0)


def test_a_file_outside_the_endpoint_path_is_refused_with_its_name(disk, tmp_path):
    inside = write(tmp_path / "se" / "a.root", b"alpha")
    outside = write(tmp_path / "elsewhere" / "b.root", b"beta")

    with pytest.raises(CommandError, match=f"not under the storage path .* of LOCAL_DATADISK: {outside}"):
        run("ddm_register_dataset", "mc23.EVNT.x", str(inside), str(outside), "--endpoint", "LOCAL_DATADISK")

    assert DataFile.objects.count() == 0


def test_a_missing_path_or_two_files_with_the_same_name_are_refused(disk, tmp_path):
    write(tmp_path / "se" / "x" / "a.root", b"alpha")
    write(tmp_path / "se" / "y" / "a.root", b"other")

    with pytest.raises(CommandError, match="no such file or directory"):
        run("ddm_register_dataset", "mc23.EVNT.x", str(tmp_path / "se" / "z"), "--endpoint", "LOCAL_DATADISK")
    with pytest.raises(CommandError, match="two files would be mc23:a.root"):
        run("ddm_register_dataset", "mc23.EVNT.x", str(tmp_path / "se"), "--endpoint", "LOCAL_DATADISK")
    assert DataFile.objects.count() == 0


def test_registering_into_a_closed_dataset_is_refused(disk, tmp_path):
    write(tmp_path / "se" / "a.root", b"alpha")
    EmbeddedDDM().register_dataset("mc23.EVNT.x")
    EmbeddedDDM().close_dataset("mc23.EVNT.x")

    with pytest.raises(CommandError, match="closed"):
        run("ddm_register_dataset", "mc23.EVNT.x", str(tmp_path / "se"), "--endpoint", "LOCAL_DATADISK")


def test_ddm_list_prints_the_dataset_its_locations_rules_files_and_replicas(disk, tmp_path):
    dataset_on(disk, "mc23.EVNT.a", 2)
    other = local_endpoint("OTHER_DATADISK", tmp_path / "other")
    rule_id = EmbeddedDDM().create_rule("mc23.EVNT.a", other.name)

    out = run("ddm_list", "mc23:mc23.EVNT.a")

    lines = out.splitlines()
    assert lines[0] == "dataset mc23:mc23.EVNT.a state=open files=2 bytes=6000"
    assert "  available at LOCAL_DATADISK: 2/2 file(s), 6000 bytes" in lines
    assert f"  rule {rule_id}: replicate to OTHER_DATADISK replicating (ok=0 replicating=0 stuck=0)" in lines
    assert any(line.startswith("  mc23:mc23.EVNT.a._000001.root guid=") for line in lines)
    assert sum(line.startswith("    LOCAL_DATADISK available /") for line in lines) == 2


def test_ddm_list_of_a_container_says_which_dataset_each_file_is_in(disk):
    dataset_on(disk, "mc23.EVNT.a", 1)
    EmbeddedDDM().attach("mc23.EVNT.all", "mc23.EVNT.a")

    out = run("ddm_list", "mc23.EVNT.all")

    assert out.startswith("container mc23:mc23.EVNT.all state=open files=1")
    assert "in mc23:mc23.EVNT.a" in out


def test_ddm_list_of_an_empty_dataset_says_so_and_an_unknown_one_is_an_error():
    EmbeddedDDM().register_dataset("mc23.EVNT.empty")

    assert "(no files)" in run("ddm_list", "mc23.EVNT.empty")
    with pytest.raises(CommandError, match="unknown dataset or container 'mc23.EVNT.none'"):
        run("ddm_list", "mc23.EVNT.none")
