import pytest
from django.db import connection

from apps.core.timeutil import utcnow
from apps.jedi.models import DatasetContent
from apps.jedi.services.rows import (
    ContentRow,
    RowLayout,
    content_rows,
    insert_tuples,
    layout,
    next_ids,
    next_ids_of,
)
from apps.jobs.models import Job, JobFile, JobStatusLog
from tests.factories import JobFactory
from tests.jedi_factories import DatasetContentFactory, TaskDatasetFactory

pytestmark = pytest.mark.django_db

LOG = ("pandaid", "modificationtime", "oldstatus", "jobstatus", "computingsite", "prodsourcelabel", "reason")


def test_a_layout_puts_the_named_columns_first_then_the_other_non_null_defaults():
    files = RowLayout(JobFile, ("job_id", "lfn", "type", "modificationtime"))

    assert files.columns[:4] == ("job_id", "lfn", "type", "modificationtime")
    assert dict(zip(files.columns[4:], files.tail, strict=True)) == {"status": "unknown", "fsize": 0, "attemptnr": 0}
    assert not files.with_pk


def test_a_layout_refuses_unknown_columns_and_columns_it_cannot_fill():
    with pytest.raises(ValueError, match="has no column nope"):
        RowLayout(JobFile, ("job_id", "lfn", "type", "modificationtime", "nope"))
    with pytest.raises(ValueError, match="modificationtime has a callable default"):
        RowLayout(JobFile, ("job_id", "lfn", "type"))
    with pytest.raises(ValueError, match="lfn is not nullable and has no default"):
        RowLayout(JobFile, ("job_id", "type", "modificationtime"))


def test_inserted_tuples_become_rows_with_the_defaults_of_the_columns_left_out():
    job = JobFactory()
    now = utcnow()
    rows = [
        (job.pandaid, now, None, "pending", "Q", "user", "made"),
        (job.pandaid, now, "pending", "defined", "Q", "user", "moved"),
    ]

    insert_tuples(layout(JobStatusLog, LOG), rows)

    logged = list(JobStatusLog.objects.filter(pandaid=job.pandaid, reason__in=["made", "moved"]).order_by("id"))
    assert [(r.oldstatus, r.jobstatus, r.computingsite) for r in logged] == [
        (None, "pending", "Q"),
        ("pending", "defined", "Q"),
    ]
    files = layout(JobFile, ("job_id", "lfn", "type", "modificationtime"))
    insert_tuples(files, [(job.pandaid, "a.root", "input", now)])
    stored = JobFile.objects.get(job=job, lfn="a.root")
    assert (stored.status, stored.fsize, stored.attemptnr, stored.guid) == ("unknown", 0, 0, None)


def test_primary_keys_come_from_the_sequence_on_postgresql_and_from_the_insert_elsewhere():
    dataset = TaskDatasetFactory()
    names = ("fileid", "task_id", "dataset_id", "lfn", "type", "creationdate")
    now = utcnow()
    if connection.vendor == "postgresql":
        ids = next_ids(DatasetContent, 3)
        assert len(set(ids)) == 3 and ids == sorted(ids)
        both = next_ids_of({Job: 2, DatasetContent: 4})
        assert len(both[Job]) == 2 and len(both[DatasetContent]) == 4 and min(both[DatasetContent]) > max(ids)
        returned = insert_tuples(
            layout(DatasetContent, names), [(i, dataset.task_id, dataset.pk, f"f{i}", "output", now) for i in ids]
        )
        assert returned is None
    else:
        ids = insert_tuples(
            layout(DatasetContent, names),
            [(None, dataset.task_id, dataset.pk, f"f{i}", "output", now) for i in range(3)],
        )
    rows = DatasetContent.objects.filter(dataset=dataset).order_by("fileid")
    assert [r.fileid for r in rows] == ids
    assert {(r.status, r.maxattempt, r.keeptrack) for r in rows} == {("ready", 3, 1)}


def test_content_rows_are_light_copies_of_the_rows_without_their_timestamps():
    row = DatasetContentFactory(nevents=100, startevent=10, ramcount=4000)

    (light,) = content_rows(DatasetContent.objects.filter(pk=row.pk))

    assert isinstance(light, ContentRow)
    assert (light.fileid, light.lfn, light.dataset_id, light.nevents, light.startevent, light.ramcount) == (
        row.fileid,
        row.lfn,
        row.dataset_id,
        100,
        10,
        4000,
    )
    assert not hasattr(light, "creationdate")
    light.endevent = 50  # the generator narrows the event range of a row it cuts
    assert light.endevent == 50
