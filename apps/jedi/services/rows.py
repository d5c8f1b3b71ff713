"""Fast construction and insertion of many plain rows, for the JobGenerator's bunches.

The generator writes ~10 rows per job (job, parameters, files, output contents, status log) at
thousands of jobs per second. Two costs dominate with the ORM's usual path: ``Model.__init__``
walking every field (the job row has ~135), and ``bulk_create`` preparing every value through the
field API while it builds one giant INSERT. So:

* :func:`new_row` builds an instance from a per-model prototype of the field defaults (one dict
  copy) — only for the plain models used here (no field needs conversion on assignment);
* :func:`insert_rows` sends the rows with ``COPY ... FROM STDIN`` on PostgreSQL, values taken as
  they are (ints, strings, naive UTC datetimes, None), and falls back to ``bulk_create`` on other
  databases. COPY returns no ids: callers set primary keys they need beforehand
  (:func:`next_ids` draws them from the table's sequence) or leave them to the database.
"""

from functools import cache

from django.db import connection
from django.db.models import Model
from django.db.models.base import ModelState


@cache
def _prototype(model: type[Model]) -> dict:
    values = dict(model().__dict__)
    values.pop("_state", None)
    return values


def new_row(model: type[Model], **values) -> Model:
    """``model(**values)`` for attribute names (``job_id``, not ``job``), without ``__init__``."""
    obj = model.__new__(model)
    obj.__dict__.update(_prototype(model))
    obj.__dict__.update(values)
    state = ModelState()
    state.db = None
    state.adding = True
    obj._state = state
    return obj


def next_ids(model: type[Model], n: int) -> list[int]:
    """``n`` new primary keys from the table's sequence (PostgreSQL only)."""
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, pk, n],
        )
        return [row[0] for row in cursor.fetchall()]


def insert_rows(model: type[Model], objs: list[Model], *, with_pk: bool) -> None:
    """Insert ``objs``; ``with_pk`` when their primary keys are set (always sent by COPY then)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=500)
        return
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    attnames = [f.attname for f in fields]
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for obj in objs:
            values = obj.__dict__
            copy.write_row([values[name] for name in attnames])
