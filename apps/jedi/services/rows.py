"""Fast construction and insertion of many plain rows, for the JobGenerator's bunches.

The generator writes ~10 rows per job (job, parameters, files, output contents, status log) at
thousands of jobs per second. The ORM's usual path costs more than the database does:
``Model.__init__`` walks every field (the job row has 125), ``bulk_create`` prepares every value
through the field API and builds one giant INSERT. So rows are plain tuples here:

* :class:`RowLayout` fixes, once per model and set of columns, the order of a row's values: the
  columns the caller gives first, then every other column whose default is not NULL, filled with
  that default (columns left out are NULL);
* :func:`insert_tuples` sends the rows with ``COPY ... FROM STDIN`` on PostgreSQL, values taken as
  they are (ints, strings, naive UTC datetimes, None), and falls back to ``bulk_create`` on other
  databases. COPY returns no ids: callers draw the primary keys they need beforehand
  (:func:`next_ids`, from the table's sequence) or leave them to the database;
* :func:`content_rows` reads ``jedi_dataset_contents`` rows as :data:`ContentRow` objects (slots,
  no model machinery), which is all the splitter and the job builder need of an input file.
"""

from collections.abc import Iterable, Sequence
from dataclasses import make_dataclass
from functools import cache

from django.db import connection
from django.db.models import Model, QuerySet
from django.db.models.base import ModelState

from apps.jedi.models import DatasetContent

# An input file as the generator reads it: the columns of DatasetContent as attributes, but for the
# two timestamps (the generator never reads them, and parsing 100,000 of them costs a second).
CONTENT_FIELDS = tuple(
    f.attname for f in DatasetContent._meta.concrete_fields if f.attname not in ("creationdate", "lastattempttime")
)
ContentRow = make_dataclass("ContentRow", CONTENT_FIELDS, slots=True, eq=False)


def content_rows(queryset: QuerySet) -> list:
    """The rows of a ``DatasetContent`` queryset as :data:`ContentRow` objects (one query)."""
    return [ContentRow(*values) for values in queryset.values_list(*CONTENT_FIELDS)]


@cache
def _prototype(model: type[Model]) -> dict:
    values = dict(model().__dict__)
    values.pop("_state", None)
    return values


def new_row(model: type[Model], **values) -> Model:
    """``model(**values)`` for attribute names (``job_id``, not ``job``), without ``__init__``.

    Fields with a callable default (timestamps) must be given: the prototype's are stale."""
    obj = model.__new__(model)
    obj.__dict__.update(_prototype(model))
    obj.__dict__.update(values)
    state = ModelState()
    state.db = None
    state.adding = True
    obj._state = state
    return obj


class RowLayout:
    """Column order of ``model`` rows given as tuples ``(*values of names, *tail)``.

    ``tail`` holds the non-NULL defaults of the columns not named; a column with a callable
    default (a timestamp) or none at all that is not nullable must be named.
    """

    def __init__(self, model: type[Model], names: Sequence[str]):
        self.model = model
        fields = {f.attname: f for f in model._meta.concrete_fields}
        unknown = [name for name in names if name not in fields]
        if unknown:
            raise ValueError(f"{model.__name__} has no column {', '.join(unknown)}")
        tail_names, tail = [], []
        for name, f in fields.items():
            if name in names or f.primary_key:
                continue
            if f.has_default() and callable(f.default):
                raise ValueError(f"{model.__name__}.{name} has a callable default: name it")
            default = f.get_default() if f.has_default() else None
            if default is None and not f.null:
                raise ValueError(f"{model.__name__}.{name} is not nullable and has no default: name it")
            if default is not None:
                tail_names.append(name)
                tail.append(default)
        self.names = tuple(names)
        self.columns = (*self.names, *tail_names)
        self.tail = tuple(tail)
        self.pk = model._meta.pk.attname
        self.with_pk = self.pk in self.names
        self.sql_columns = ", ".join(connection.ops.quote_name(fields[name].column) for name in self.columns)
        self.table = connection.ops.quote_name(model._meta.db_table)


def next_ids(model: type[Model], n: int) -> list[int]:
    """``n`` new primary keys from the table's sequence (PostgreSQL only), in one statement."""
    return next_ids_of({model: n})[model]


def next_ids_of(wanted: dict[type[Model], int]) -> dict[type[Model], list[int]]:
    """New primary keys for several tables in one round trip: ``{model: n}`` -> ``{model: ids}``
    (ascending; PostgreSQL only)."""
    parts, params = [], []
    for index, (model, n) in enumerate(wanted.items()):
        parts.append(f"SELECT {index}, nextval(%s::regclass) FROM generate_series(1, %s)")
        params += [_sequence(model._meta.db_table, model._meta.pk.column), max(n, 0)]
    ids: dict[type[Model], list[int]] = {model: [] for model in wanted}
    models = list(wanted)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for index, value in cursor.fetchall():
            ids[models[index]].append(value)
    return {model: sorted(values) for model, values in ids.items()}


@cache
def _sequence(table: str, column: str) -> str:
    """The sequence behind ``table.column``, looked up once (not per drawn id)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        return cursor.fetchone()[0]


@cache
def layout(model: type[Model], names: tuple[str, ...]) -> RowLayout:
    """The :class:`RowLayout` of ``model`` for ``names`` (built once)."""
    return RowLayout(model, names)


def insert_tuples(layout: RowLayout, rows: Iterable[Sequence]) -> list[int] | None:
    """Insert ``rows`` (values in ``layout.names`` order, without the tail).

    PostgreSQL: one ``COPY`` and ``None`` (callers set the primary keys they need beforehand).
    Elsewhere: ``bulk_create``, answering the new primary keys in row order.
    """
    tail = layout.tail
    if connection.vendor == "postgresql":
        sql = f"COPY {layout.table} ({layout.sql_columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            write = copy.write_row
            if tail:
                for row in rows:
                    write((*row, *tail))
            else:
                for row in rows:
                    write(row)
        return None
    model, columns = layout.model, layout.columns
    objs = [new_row(model, **dict(zip(columns, (*row, *tail), strict=True))) for row in rows]
    if not objs:
        return []
    model.objects.bulk_create(objs, batch_size=500)
    return [getattr(obj, layout.pk) for obj in objs]
