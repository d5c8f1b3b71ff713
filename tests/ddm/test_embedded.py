from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.timeutil import utcnow
from apps.ddm.embedded import EmbeddedDDM
from apps.ddm.interface import DDMError, FileInfo, OutputFile, ReplicaInfo, UnknownDataset, ddm
from apps.ddm.models import DataFile, Dataset, DatasetFile, Replica, Rule
from apps.ddm.names import deterministic_path, did_split, scope_extract
from tests.factories import StorageEndpointFactory
from tests.jedi_factories import DataFileFactory, DDMDatasetFactory, ddm_dataset_with_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    return EmbeddedDDM()


def output(lfn: str, *, scope: str = "mc23", endpoint: str = "SITE_DATADISK", **fields) -> OutputFile:
    values = {"guid": f"GUID-{lfn}", "fsize": 100, "adler32": "0a0b0c0d", "pfn": f"/se/{lfn}"}
    values.update(fields)
    return OutputFile(scope=scope, lfn=lfn, endpoint=endpoint, **values)


def container_of(name: str, *members: Dataset, scope: str = "mc23") -> Dataset:
    container = Dataset.objects.create(scope=scope, name=name, kind="container")
    for member in members:
        member.containers.add(container)
    return container


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("did", "expected"),
    [
        ("mc23:mc23.EVNT.e1", ("mc23", "mc23.EVNT.e1")),
        ("mc23.EVNT.e1", ("mc23", "mc23.EVNT.e1")),
        ("user.jdoe.test.001", ("user.jdoe", "user.jdoe.test.001")),
        ("group.phys-higgs.x.y", ("group.phys-higgs", "group.phys-higgs.x.y")),
        ("user.jdoe.test.001_out/", ("user.jdoe", "user.jdoe.test.001_out")),
        ("other:user.jdoe.x", ("other", "user.jdoe.x")),
        ("  mc23:mc23.x  ", ("mc23", "mc23.x")),
    ],
)
def test_a_did_is_split_into_scope_and_name_as_rucio_extracts_scopes(did, expected):
    assert did_split(did) == expected


@pytest.mark.parametrize("did", ["", "   ", ":x", "mc23:", "mc23:a:b", "mc23:has space", "/"])
def test_a_malformed_did_is_refused_with_a_clear_error(did):
    with pytest.raises(DDMError, match="invalid data identifier"):
        did_split(did)


def test_the_scope_of_a_bare_user_name_takes_two_fields_and_others_one():
    assert (scope_extract("user.jdoe.x"), scope_extract("data23.x.y"), scope_extract("plain")) == (
        "user.jdoe",
        "data23",
        "plain",
    )


def test_the_deterministic_path_hashes_scope_and_lfn_and_splits_user_scopes():
    path = deterministic_path("user.jdoe", "f.root")
    assert path.startswith("user/jdoe/") and path.endswith("/f.root")
    assert deterministic_path("mc23", "f.root").split("/")[0] == "mc23"
    assert len(path.split("/")[2]) == 2 and len(path.split("/")[3]) == 2


# --- reading -------------------------------------------------------------------------------


def test_ddm_returns_the_embedded_implementation_by_default():
    assert isinstance(ddm(), EmbeddedDDM)


def test_a_dataset_is_described_with_its_file_count_and_size(catalogue):
    ddm_dataset_with_files("mc23.EVNT.a", 3)

    info = catalogue.get_dataset("mc23:mc23.EVNT.a")

    assert (info.scope, info.name, info.kind, info.state, info.nfiles, info.nbytes) == (
        "mc23",
        "mc23.EVNT.a",
        "dataset",
        "open",
        3,
        3_000_000,
    )
    assert catalogue.get_dataset("mc23.EVNT.a") == info


def test_an_unknown_dataset_or_a_wrong_explicit_scope_is_refused(catalogue):
    ddm_dataset_with_files("mc23.EVNT.a", 1)

    with pytest.raises(UnknownDataset, match="mc23.EVNT.zzz"):
        catalogue.get_dataset("mc23.EVNT.zzz")
    with pytest.raises(UnknownDataset):
        catalogue.get_dataset("data23:mc23.EVNT.a")


def test_a_file_in_two_datasets_of_a_container_counts_once(catalogue):
    a = ddm_dataset_with_files("mc23.EVNT.a", 2)
    b = ddm_dataset_with_files("mc23.EVNT.b", 1)
    DatasetFile.objects.create(dataset=b, file=a.files.first())
    container_of("mc23.EVNT.all", a, b)

    info = catalogue.get_dataset("mc23.EVNT.all/")

    assert (info.kind, info.nfiles, info.nbytes) == ("container", 3, 3_000_000)


def test_the_files_of_a_dataset_are_listed_by_lfn_with_their_metadata(catalogue):
    dataset = DDMDatasetFactory(name="mc23.EVNT.a")
    for lfn in ("c.root", "a.root", "b.root"):
        DatasetFile.objects.create(dataset=dataset, file=DataFileFactory(lfn=lfn, nevents=7))

    files = catalogue.list_files("mc23.EVNT.a")

    assert [f.lfn for f in files] == ["a.root", "b.root", "c.root"]
    first = DataFile.objects.get(lfn="a.root")
    assert files[0] == FileInfo(
        scope="mc23",
        lfn="a.root",
        guid=first.guid,
        fsize=1_000_000,
        adler32="12345678",
        nevents=7,
        dataset="mc23:mc23.EVNT.a",
    )


def test_a_container_lists_the_files_of_its_datasets_at_every_level_once(catalogue):
    a = ddm_dataset_with_files("mc23.EVNT.a", 2)
    b = ddm_dataset_with_files("mc23.EVNT.b", 2)
    DatasetFile.objects.create(dataset=b, file=a.files.order_by("lfn").first())
    inner = container_of("mc23.EVNT.inner", b)
    outer = container_of("mc23.EVNT.outer", a, inner)
    outer.containers.add(inner)  # a cycle must not loop forever

    files = catalogue.list_files("mc23.EVNT.outer")

    assert [f.lfn for f in files] == sorted(f.lfn for f in DataFile.objects.all())
    assert {f.lfn: f.dataset for f in files}["mc23.EVNT.a._000001.root"] == "mc23:mc23.EVNT.a"


def test_containers_expand_with_one_query_per_level_whatever_their_width(catalogue):
    datasets = [ddm_dataset_with_files(f"mc23.EVNT.w{i}", 2) for i in range(30)]
    inner = [container_of(f"mc23.EVNT.inner{i}", *datasets[i * 10 : (i + 1) * 10]) for i in range(3)]
    container_of("mc23.EVNT.top", *inner)

    with CaptureQueriesContext(connection) as queries:
        files = catalogue.list_files("mc23.EVNT.top")

    assert len(files) == 60
    # the container, its two levels, the files
    assert len(queries) == 4


def _shared_files_in_a_container():
    """Three datasets of a container, some files in two of them, LFNs out of name order."""
    a = ddm_dataset_with_files("mc23.EVNT.a", 5)
    b = ddm_dataset_with_files("mc23.EVNT.b", 4)
    c = DDMDatasetFactory(name="mc23.EVNT.c")
    for lfn in ("Z.root", "a.root", "mc23.EVNT.a._000003.root_x"):
        DatasetFile.objects.create(dataset=c, file=DataFileFactory(lfn=lfn))
    for shared in a.files.order_by("lfn")[:3]:
        DatasetFile.objects.create(dataset=b, file=shared)
        DatasetFile.objects.create(dataset=c, file=shared)
    container_of("mc23.EVNT.abc", c, b, a)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5000])
def test_iter_files_streams_what_list_files_lists_in_the_same_order_whatever_the_chunk(catalogue, chunk):
    _shared_files_in_a_container()

    streamed = list(catalogue.iter_files("mc23.EVNT.abc", chunk=chunk))

    assert streamed == catalogue.list_files("mc23.EVNT.abc")
    assert len(streamed) == 12 and streamed[0].lfn == "Z.root"
    assert {f.lfn: f.dataset for f in streamed}["mc23.EVNT.a._000001.root"] == "mc23:mc23.EVNT.a"


def test_iter_files_merges_the_pages_of_a_container_too_wide_for_one_query(catalogue, monkeypatch):
    _shared_files_in_a_container()
    monkeypatch.setattr("apps.ddm.selectors.catalogue.chunk_size", lambda: 1)  # one dataset id per query

    assert list(catalogue.iter_files("mc23.EVNT.abc", chunk=2)) == catalogue.list_files("mc23.EVNT.abc")


def test_iter_files_reads_one_page_of_rows_per_query(catalogue):
    ddm_dataset_with_files("mc23.EVNT.big", 10)
    listing = catalogue.iter_files("mc23.EVNT.big", chunk=4)

    with CaptureQueriesContext(connection) as queries:
        first = [next(listing) for _ in range(4)]
    assert [f.lfn for f in first] == [f"mc23.EVNT.big._{i:06d}.root" for i in range(1, 5)]
    assert len(queries) == 2  # the dataset, the first page
    assert len(list(listing)) == 6


def test_iter_files_refuses_an_unknown_dataset_and_a_chunk_below_one(catalogue):
    ddm_dataset_with_files("mc23.EVNT.a", 1)
    with pytest.raises(UnknownDataset):
        next(catalogue.iter_files("mc23.EVNT.nothere"))
    with pytest.raises(ValueError, match="chunk must be positive"):
        next(catalogue.iter_files("mc23.EVNT.a", chunk=0))


def test_replicas_are_listed_per_file_with_the_tape_flag_and_files_without_any_map_to_nothing(catalogue):
    StorageEndpointFactory(name="CERN_TAPE", is_tape=True)
    dataset = ddm_dataset_with_files("mc23.EVNT.a", 2, endpoint="CERN_DATADISK")
    one, two = dataset.files.order_by("lfn")
    Replica.objects.create(file=one, endpoint="CERN_TAPE", pfn="/tape/one")

    replicas = catalogue.list_replicas([("mc23", one.lfn), ("mc23", two.lfn), ("mc23", "nothing.root")])

    assert replicas[("mc23", one.lfn)] == [
        ReplicaInfo(endpoint="CERN_DATADISK", state="available", is_tape=False, pfn=f"/tmp/se/mc23/{one.lfn}"),
        ReplicaInfo(endpoint="CERN_TAPE", state="available", is_tape=True, pfn="/tape/one"),
    ]
    assert [r.endpoint for r in replicas[("mc23", two.lfn)]] == ["CERN_DATADISK"]
    assert replicas[("mc23", "nothing.root")] == []


def test_list_replicas_refuses_something_that_is_not_a_scope_lfn_pair(catalogue):
    with pytest.raises(DDMError, match="pairs"):
        catalogue.list_replicas(["mc23:a.root"])


def test_replicas_of_100000_files_are_listed_in_a_few_chunked_queries(catalogue):
    n = 100_000
    DataFile.objects.bulk_create(
        [DataFile(scope="mc23", lfn=f"f.{i:06d}.root", fsize=1) for i in range(n)], batch_size=5000
    )
    ids = DataFile.objects.values_list("pk", flat=True)
    Replica.objects.bulk_create([Replica(file_id=pk, endpoint="SE_A") for pk in ids], batch_size=5000)
    wanted = [("mc23", f"f.{i:06d}.root") for i in range(n)]

    with CaptureQueriesContext(connection) as queries:
        replicas = catalogue.list_replicas(wanted)

    assert len(replicas) == n
    assert all(len(found) == 1 and found[0].endpoint == "SE_A" for found in replicas.values())
    assert len(queries) <= n // 900 + 3


def test_dataset_locations_count_available_files_and_bytes_per_endpoint(catalogue):
    a = ddm_dataset_with_files("mc23.EVNT.a", 3, endpoint="SE_A")
    b = ddm_dataset_with_files("mc23.EVNT.b", 1, endpoint="SE_B")
    DatasetFile.objects.create(dataset=b, file=a.files.order_by("lfn").first())
    for f in a.files.all()[:2]:
        Replica.objects.create(file=f, endpoint="SE_B")
    Replica.objects.create(file=b.files.first(), endpoint="SE_C", state="copying")
    container_of("mc23.EVNT.all", a, b)

    with CaptureQueriesContext(connection) as queries:
        locations = catalogue.dataset_locations("mc23.EVNT.all")

    assert locations == {"SE_A": (3, 3_000_000), "SE_B": (3, 3_000_000)}
    assert len(queries) <= 4
    assert catalogue.dataset_locations("mc23.EVNT.b") == {"SE_A": (1, 1_000_000), "SE_B": (2, 2_000_000)}


# --- writing -------------------------------------------------------------------------------


def test_registering_a_dataset_is_idempotent_and_extracts_the_scope(catalogue):
    first = catalogue.register_dataset("user.jdoe.out.001", owner="jdoe")
    again = catalogue.register_dataset("user.jdoe:user.jdoe.out.001")

    assert first == again
    assert (first.scope, first.kind, first.state, first.nfiles) == ("user.jdoe", "dataset", "open", 0)
    assert Dataset.objects.get().owner == "jdoe"


def test_registering_a_dataset_under_another_kind_or_scope_is_refused(catalogue):
    catalogue.register_dataset("mc23.EVNT.c/", kind="container")

    with pytest.raises(DDMError, match="already exists as a container"):
        catalogue.register_dataset("mc23.EVNT.c")
    with pytest.raises(DDMError, match="scope mc23"):
        catalogue.register_dataset("data23:mc23.EVNT.c", kind="container")
    with pytest.raises(DDMError, match="unknown dataset kind"):
        catalogue.register_dataset("mc23.EVNT.d", kind="bag")
    assert Dataset.objects.count() == 1


def test_attaching_creates_the_container_and_the_dataset_and_is_idempotent(catalogue):
    catalogue.attach("mc23.EVNT.c", "mc23.EVNT.d")
    catalogue.attach("mc23.EVNT.c", "mc23.EVNT.d")
    catalogue.attach("mc23.EVNT.top", "mc23.EVNT.c")

    container = Dataset.objects.get(name="mc23.EVNT.c")
    assert container.kind == "container"
    assert [d.name for d in container.members.all()] == ["mc23.EVNT.d"]
    assert Dataset.objects.get(name="mc23.EVNT.top").members.get() == container


def test_attaching_refuses_cycles_closed_containers_and_datasets_as_containers(catalogue):
    catalogue.attach("mc23.c1", "mc23.c2")
    Dataset.objects.filter(name="mc23.c2").update(kind="container")
    catalogue.attach("mc23.c2", "mc23.d")

    with pytest.raises(DDMError, match="hold itself"):
        catalogue.attach("mc23.c2", "mc23.c1")
    with pytest.raises(DDMError, match="hold itself"):
        catalogue.attach("mc23.c1", "mc23.c1")
    with pytest.raises(DDMError, match="already exists as a dataset"):
        catalogue.attach("mc23.d", "mc23.e")
    Dataset.objects.filter(name="mc23.c1").update(state="closed")
    with pytest.raises(DDMError, match="closed"):
        catalogue.attach("mc23.c1", "mc23.f")


def test_outputs_are_created_attached_and_given_their_replica(catalogue):
    catalogue.register_dataset("mc23.HITS.s1")

    attached = catalogue.register_outputs("mc23.HITS.s1", [output("a.root", nevents=5), output("b.root")])

    assert attached == 2
    files = catalogue.list_files("mc23.HITS.s1")
    assert [(f.lfn, f.guid, f.fsize, f.adler32) for f in files] == [
        ("a.root", "GUID-a.root", 100, "0a0b0c0d"),
        ("b.root", "GUID-b.root", 100, "0a0b0c0d"),
    ]
    assert files[0].nevents == 5
    replicas = catalogue.list_replicas([("mc23", "a.root")])[("mc23", "a.root")]
    assert replicas == [ReplicaInfo(endpoint="SITE_DATADISK", state="available", pfn="/se/a.root")]


def test_registering_the_same_outputs_again_changes_nothing(catalogue):
    catalogue.register_dataset("mc23.HITS.s1")
    files = [output("a.root"), output("b.root")]
    catalogue.register_outputs("mc23.HITS.s1", files)

    assert catalogue.register_outputs("mc23.HITS.s1", files + [output("a.root")]) == 0

    assert (DataFile.objects.count(), DatasetFile.objects.count(), Replica.objects.count()) == (2, 2, 2)


def test_outputs_without_an_endpoint_are_attached_without_a_replica(catalogue):
    catalogue.register_dataset("mc23.HITS.s1")

    catalogue.register_outputs("mc23.HITS.s1", [output("a.root", endpoint="")])

    assert catalogue.list_replicas([("mc23", "a.root")]) == {("mc23", "a.root"): []}


def test_a_known_file_is_attached_to_another_dataset_and_its_copying_replica_becomes_available(catalogue):
    catalogue.register_dataset("mc23.HITS.s1")
    catalogue.register_dataset("mc23.HITS.s2")
    catalogue.register_outputs("mc23.HITS.s1", [output("a.root", endpoint="")])
    Replica.objects.create(file=DataFile.objects.get(), endpoint="SITE_DATADISK", state="copying")

    assert catalogue.register_outputs("mc23.HITS.s2", [output("a.root", guid="", fsize=0)]) == 1

    assert DataFile.objects.count() == 1
    assert Replica.objects.get().state == "available"


def test_outputs_are_refused_on_a_closed_dataset_and_nothing_is_written(catalogue):
    catalogue.register_dataset("mc23.HITS.s1")
    catalogue.close_dataset("mc23.HITS.s1")

    with pytest.raises(DDMError, match="closed"):
        catalogue.register_outputs("mc23.HITS.s1", [output("a.root")])

    assert (DataFile.objects.count(), Replica.objects.count()) == (0, 0)
    assert catalogue.get_dataset("mc23.HITS.s1").state == "closed"


def test_outputs_are_refused_on_a_container_an_unknown_dataset_or_without_a_name(catalogue):
    catalogue.register_dataset("mc23.HITS.c", kind="container")

    with pytest.raises(DDMError, match="container"):
        catalogue.register_outputs("mc23.HITS.c", [output("a.root")])
    with pytest.raises(UnknownDataset):
        catalogue.register_outputs("mc23.HITS.none", [output("a.root")])
    catalogue.register_dataset("mc23.HITS.s1")
    with pytest.raises(DDMError, match="scope and an lfn"):
        catalogue.register_outputs("mc23.HITS.s1", [output("")])
    assert DataFile.objects.count() == 0


def test_an_output_clashing_with_a_catalogued_guid_is_refused_and_nothing_is_attached(catalogue):
    catalogue.register_dataset("mc23.HITS.s1")
    catalogue.register_outputs("mc23.HITS.s1", [output("a.root")])
    catalogue.register_dataset("mc23.HITS.s2")

    with pytest.raises(DDMError, match="GUID"):
        catalogue.register_outputs("mc23.HITS.s2", [output("b.root"), output("a.root", guid="OTHER")])

    assert catalogue.get_dataset("mc23.HITS.s2").nfiles == 0
    assert not DataFile.objects.filter(lfn="b.root").exists()


def test_registering_outputs_takes_bulk_queries_not_one_per_file(catalogue):
    catalogue.register_dataset("mc23.HITS.s1")
    catalogue.register_dataset("mc23.HITS.s2")

    def count(dataset, n):
        with CaptureQueriesContext(connection) as queries:
            catalogue.register_outputs(dataset, [output(f"{dataset}.{i}.root") for i in range(n)])
        return len(queries)

    small = count("mc23.HITS.s1", 10)
    large = count("mc23.HITS.s2", 600)
    # Only the database's bulk-insert batch size (small on SQLite) adds queries.
    assert large <= small + 600 // 50
    assert DataFile.objects.count() == 610


def test_new_files_in_a_dataset_with_a_satisfied_rule_put_the_rule_back_to_replicating(catalogue):
    StorageEndpointFactory(name="SE_B")
    catalogue.register_dataset("mc23.HITS.s1")
    rule_id = catalogue.create_rule("mc23.HITS.s1", "SE_B")
    Rule.objects.filter(pk=rule_id).update(state="ok")

    catalogue.register_outputs("mc23.HITS.s1", [output("a.root")])

    assert catalogue.get_rule(rule_id).state == "replicating"


def test_closing_a_dataset_is_idempotent_and_an_unknown_one_is_refused(catalogue):
    catalogue.register_dataset("mc23.HITS.s1")
    catalogue.close_dataset("mc23.HITS.s1")
    catalogue.close_dataset("mc23.HITS.s1")

    assert catalogue.get_dataset("mc23.HITS.s1").state == "closed"
    with pytest.raises(UnknownDataset):
        catalogue.close_dataset("mc23.HITS.none")


def test_a_closed_dataset_opened_again_takes_new_files(catalogue):
    catalogue.register_dataset("mc23.HITS.s1")
    catalogue.close_dataset("mc23.HITS.s1")

    catalogue.open_dataset("mc23.HITS.s1")
    catalogue.open_dataset("mc23.HITS.s1")

    assert catalogue.get_dataset("mc23.HITS.s1").state == "open"
    assert catalogue.register_outputs("mc23.HITS.s1", [output("a.root")]) == 1


def test_a_frozen_or_unknown_dataset_cannot_be_opened(catalogue):
    catalogue.register_dataset("mc23.HITS.s1")
    Dataset.objects.filter(name="mc23.HITS.s1").update(state="frozen")

    with pytest.raises(DDMError, match="frozen"):
        catalogue.open_dataset("mc23.HITS.s1")
    with pytest.raises(UnknownDataset):
        catalogue.open_dataset("mc23.HITS.none")
    assert catalogue.get_dataset("mc23.HITS.s1").state == "frozen"


def test_a_rule_is_created_once_per_dataset_endpoint_and_activity(catalogue):
    StorageEndpointFactory(name="SE_B")
    ddm_dataset_with_files("mc23.EVNT.a", 1)

    first = catalogue.create_rule("mc23.EVNT.a", "SE_B", lifetime=3600)
    again = catalogue.create_rule("mc23:mc23.EVNT.a", "SE_B")
    stage = catalogue.create_rule("mc23.EVNT.a", "SE_B", activity="stage")

    assert first == again != stage
    rule = catalogue.get_rule(first)
    assert (rule.dataset, rule.endpoint, rule.activity, rule.state, rule.stuck_since) == (
        "mc23:mc23.EVNT.a",
        "SE_B",
        "replicate",
        "replicating",
        None,
    )
    expires = Rule.objects.get(pk=first).expires
    assert utcnow() + timedelta(seconds=3500) < expires < utcnow() + timedelta(seconds=3700)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "mc23.EVNT.none", "endpoint": "SE_B"}, "unknown dataset"),
        ({"dataset": "mc23.EVNT.a", "endpoint": "NOWHERE"}, "unknown storage endpoint"),
        ({"dataset": "mc23.EVNT.a", "endpoint": "SE_B", "activity": "delete"}, "unknown rule activity"),
        ({"dataset": "mc23.EVNT.a", "endpoint": "SE_B", "lifetime": 0}, "lifetime"),
    ],
)
def test_a_bad_rule_request_is_refused_and_creates_nothing(catalogue, kwargs, message):
    StorageEndpointFactory(name="SE_B")
    ddm_dataset_with_files("mc23.EVNT.a", 1)

    with pytest.raises(DDMError, match=message):
        catalogue.create_rule(**kwargs)

    assert Rule.objects.count() == 0


def test_an_unknown_rule_is_refused(catalogue):
    with pytest.raises(DDMError, match="unknown rule"):
        catalogue.get_rule(12345)


def test_the_rules_of_many_datasets_are_read_in_one_query(catalogue):
    StorageEndpointFactory(name="SE_B")
    for i in range(5):
        catalogue.register_dataset(f"panda.{i}.dis")
        catalogue.create_rule(f"panda.{i}.dis", "SE_B")
    names = [f"panda.{i}.dis" for i in range(6)] + ["other:panda.1.dis"]

    with CaptureQueriesContext(connection) as queries:
        rules = catalogue.list_rules(names)

    assert len(queries) == 1
    assert [len(rules[name]) for name in names] == [1, 1, 1, 1, 1, 0, 0]
    assert rules["panda.3.dis"][0].dataset == "panda:panda.3.dis"
