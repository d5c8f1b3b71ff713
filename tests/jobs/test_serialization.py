import datetime as dt
import json

import pytest

from apps.jobs.models import FILE_WIRE_ATTRIBUTES, WIRE_ATTRIBUTES, Job, JobFile, wire_to_field
from apps.jobs.serialization import (
    NULL,
    ZERO_ATTRIBUTES,
    WireFormatError,
    job_description,
    job_from_wire,
    job_to_wire,
    jobs_from_wire,
)
from tests.factories import job_with_files

pytestmark = pytest.mark.django_db


def wire_of(job: Job) -> list:
    job = Job.objects.get(pk=job.pk)
    return job_to_wire(
        job,
        files=list(job.files.order_by("row_id")),
        job_parameters=job.params.jobparameters,
        metadata=None,
    )


def short_job(n_attributes: int, **values) -> list:
    """A job array of the first ``n_attributes`` attributes (all "NULL" unless given), then its files."""
    array = [values.get(name, NULL) for name in WIRE_ATTRIBUTES[:n_attributes]]
    return [*array, values.get("files", [])]


def test_the_wire_orders_have_126_job_and_22_file_attributes():
    assert len(WIRE_ATTRIBUTES) == 126 and len(set(WIRE_ATTRIBUTES)) == 126
    assert len(FILE_WIRE_ATTRIBUTES) == 22
    assert WIRE_ATTRIBUTES[0] == "PandaID" and WIRE_ATTRIBUTES[-1] == "outputFileType"


def test_a_job_array_holds_126_attributes_then_the_file_arrays_with_a_null_owner():
    job = job_with_files(n_inputs=1, n_outputs=1)

    array = wire_of(job)

    assert len(array) == 127
    assert array[WIRE_ATTRIBUTES.index("PandaID")] == job.pandaid
    assert array[WIRE_ATTRIBUTES.index("jobParameters")] == "--in=${IN}"
    assert array[WIRE_ATTRIBUTES.index("metadata")] == NULL
    assert array[WIRE_ATTRIBUTES.index("nucleus")] == NULL
    assert array[WIRE_ATTRIBUTES.index("creationTime")] == {
        "_datetime_object": job.creationtime.strftime("%Y-%m-%d %H:%M:%S.%f")
    }
    files = array[-1]
    assert len(files) == 3
    assert all(len(f) == 23 and f[-1] is None for f in files)
    assert files[0][FILE_WIRE_ATTRIBUTES.index("PandaID")] == job.pandaid
    assert files[0][FILE_WIRE_ATTRIBUTES.index("type")] == "input"


def test_a_job_survives_the_round_trip_through_json():
    job = job_with_files(n_inputs=2, n_outputs=1, nucleus=None, starttime=dt.datetime(2024, 5, 6, 7, 8, 9, 123456))
    original = Job.objects.get(pk=job.pk)

    spec = jobs_from_wire(json.dumps([wire_of(job)]))[0]

    for name in WIRE_ATTRIBUTES:
        if name in ("jobParameters", "metadata"):
            continue
        assert spec.get(name) == getattr(original, wire_to_field(name)), name
    assert spec.job_parameters == "--in=${IN}"
    assert spec.metadata is None
    stored = list(JobFile.objects.filter(job=job).order_by("row_id"))
    assert len(spec.files) == len(stored)
    for decoded, jobfile in zip(spec.files, stored, strict=True):
        for name in FILE_WIRE_ATTRIBUTES[2:]:
            assert decoded[wire_to_field(name)] == getattr(jobfile, wire_to_field(name)), name
        assert "row_id" not in decoded and "pandaid" not in decoded


def test_unset_attributes_become_null_and_unset_counts_become_zero():
    spec = job_from_wire(short_job(126, jobName="j", computingSite="Q"))

    assert spec.get("jobName") == "j"
    assert spec.get("nucleus") is None and spec.get("startTime") is None
    for name in ZERO_ATTRIBUTES:
        assert spec.get(name) == 0, name
    assert spec.given == {"jobName", "computingSite"}


def test_json_null_is_read_like_the_string_null():
    array = short_job(126)
    array[WIRE_ATTRIBUTES.index("currentPriority")] = None
    array[WIRE_ATTRIBUTES.index("cloud")] = None

    spec = job_from_wire(array)

    assert (spec.get("currentPriority"), spec.get("cloud")) == (0, None)


def test_a_short_job_array_leaves_the_missing_trailing_attributes_unset():
    array = short_job(18, PandaID=5, jobDefinitionID=7, prodSourceLabel="user", currentPriority=900)

    spec = job_from_wire(array)

    assert (spec.get("jobDefinitionID"), spec.get("prodSourceLabel"), spec.get("currentPriority")) == (7, "user", 900)
    assert spec.get("jobName") is None and spec.get("computingSite") is None
    assert spec.get("maxAttempt") == 0


def test_the_last_element_is_always_the_file_list_never_an_attribute():
    # 3 elements: two attributes, then the (empty) file list; jobDefinitionID must not read the list.
    spec = job_from_wire([11, 22, []])

    assert spec.get("PandaID") == 11 and spec.get("jobDefinitionID") == 22
    assert spec.get("schedulerID") is None and spec.files == []


def test_a_short_file_array_of_18_attributes_and_the_owner_leaves_the_rest_unset():
    file_array = [NULL, NULL, "GUID-1", "in.root", "input", "ds", "ready", "ds", NULL, NULL, NULL, NULL, NULL, NULL,
                  1234, NULL, "ad:0badf00d", "mc23", None]  # fmt: skip

    spec = job_from_wire(short_job(126, files=[file_array]))

    decoded = spec.files[0]
    assert (decoded["guid"], decoded["lfn"], decoded["type"], decoded["fsize"]) == ("GUID-1", "in.root", "input", 1234)
    assert (decoded["checksum"], decoded["scope"]) == ("ad:0badf00d", "mc23")
    assert decoded["jeditaskid"] is None and decoded["fileid"] is None
    assert decoded["attemptnr"] == 0


def test_datetimes_are_decoded_with_or_without_microseconds():
    array = short_job(126)
    array[WIRE_ATTRIBUTES.index("startTime")] = {"_datetime_object": "2024-01-02 03:04:05.250000"}
    array[WIRE_ATTRIBUTES.index("endTime")] = {"_datetime_object": "2024-01-02 03:04:06"}

    spec = job_from_wire(array)

    assert spec.get("startTime") == dt.datetime(2024, 1, 2, 3, 4, 5, 250000)
    assert spec.get("endTime") == dt.datetime(2024, 1, 2, 3, 4, 6)


def test_numbers_sent_as_strings_are_accepted():
    spec = job_from_wire(short_job(126, currentPriority="1000", coreCount=8.0, cpuConversion="1.5"))

    assert (spec.get("currentPriority"), spec.get("coreCount"), spec.get("cpuConversion")) == (1000, 8, 1.5)


def test_too_long_diagnostics_are_cut_like_upstream():
    spec = job_from_wire(short_job(126, pilotErrorDiag="x" * 900, commandToPilot="y" * 400))

    assert len(spec.get("pilotErrorDiag")) == 500
    assert len(spec.get("commandToPilot")) == 250


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "jobs is not valid JSON"),
        ('{"a": 1}', "must be a JSON list of job arrays"),
        ("[5]", "job 0: a job must be a non-empty list"),
        ("[[]]", "job 0: a job must be a non-empty list"),
        ('[[1, 2, "not files"]]', "the last element of a job must be its list of files"),
        (json.dumps([short_job(126, currentPriority="high")]), "currentPriority must be an integer"),
        (json.dumps([short_job(126, attemptNr=True)]), "attemptNr must be an integer"),
        (json.dumps([short_job(126, coreCount=1.5)]), "coreCount must be an integer"),
        (json.dumps([short_job(126, cpuConversion="fast")]), "cpuConversion must be a number"),
        (json.dumps([short_job(126, jobName={"a": 1})]), "jobName must be a string"),
        (json.dumps([short_job(126, jobName="n" * 300)]), "jobName is longer than 256 characters"),
        (json.dumps([short_job(126, startTime="yesterday")]), "startTime must be a datetime"),
        (json.dumps([short_job(126, startTime={"_datetime_object": "2024"})]), "bad datetime"),
        (json.dumps([short_job(126, jobParameters=["a"])]), "jobParameters must be a string"),
        (json.dumps([short_job(126, files=["x"])]), "file 0: a file must be a list"),
        (json.dumps([short_job(126, files=[[NULL, NULL, "g", NULL, "input", None]])]), "file 0: a file has no lfn"),
        (json.dumps([short_job(126, files=[[NULL, NULL, "g", "l", "input", "d", "s", "d", NULL, NULL, NULL, NULL,
                                           NULL, NULL, "big", None]])]), "file attribute fsize must be an integer"),
    ],
)  # fmt: skip
def test_malformed_jobs_are_refused_with_a_message_naming_the_problem(payload, message):
    with pytest.raises(WireFormatError) as excinfo:
        jobs_from_wire(payload)

    assert message in str(excinfo.value)


def test_only_the_first_jobs_up_to_the_limit_are_read():
    payload = [short_job(126, jobName=f"j{i}") for i in range(4)] + ["garbage after the limit"]

    specs = jobs_from_wire(payload, limit=3)

    assert [spec.get("jobName") for spec in specs] == ["j0", "j1", "j2"]


def test_the_description_has_every_attribute_under_its_wire_name_and_the_files():
    job = job_with_files(n_inputs=1, n_outputs=1)
    job = Job.objects.get(pk=job.pk)
    files = list(job.files.order_by("row_id"))

    described = job_description(job, files=files, job_parameters="--x", metadata='{"k": 1}')

    assert list(described) == [*WIRE_ATTRIBUTES, "Files"]
    assert described["PandaID"] == job.pandaid
    assert described["jobParameters"] == "--x" and described["metadata"] == '{"k": 1}'
    assert described["nucleus"] is None
    assert isinstance(described["creationTime"], dt.datetime)
    assert [list(f) for f in described["Files"]] == [list(FILE_WIRE_ATTRIBUTES)] * 3
    assert described["Files"][0]["row_ID"] == files[0].row_id
    assert described["Files"][0]["PandaID"] == job.pandaid
