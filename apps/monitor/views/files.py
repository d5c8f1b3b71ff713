"""File and dataset lookups (monitor.md §1 "Files / datasets"): ``/files/``, ``/file/``, ``/datasets/``, ``/dataset/``.

Thin views over apps/monitor/selectors/files.py and datasets.py. The lists take the filter grammar of
monitor.md §2 on job files (``/files/``) and task datasets (``/datasets/``) and also search the DDM
catalogue when only keys it knows are given.
"""

from urllib.parse import urlencode

from apps.ddm.interface import DDMError
from apps.ddm.names import did_has_scope, did_split
from apps.monitor.filters.files import DATASET_FILTERS, DATASET_SELECTING_KEYS, FILE_FILTERS, FILE_SELECTING_KEYS
from apps.monitor.filters.parser import FilterError, parse_selection, read_params
from apps.monitor.selectors import datasets as dataset_selectors
from apps.monitor.selectors import files as file_selectors
from apps.monitor.selectors.facets import facet_counts, legacy_summary
from apps.monitor.views.common import respond
from apps.monitor.views.facet_links import facet_links
from apps.monitor.views.identity import bad_request, not_found
from apps.monitor.views.readable import readable

CATALOGUE_FILE_KEYS = frozenset(file_selectors.CATALOGUE_PATHS)
CATALOGUE_DATASET_KEYS = frozenset({"datasetname"})


def _filter_keys(selection, registry) -> set[str]:
    return {key for key in selection.echo if key in registry.fields}


def _lookup(request, registry, selecting_keys):
    """(selection, filter keys) of a lookup, or raise FilterError when nothing selects the rows."""
    selection = parse_selection(request.GET, registry, view=registry.name)
    keys = _filter_keys(selection, registry)
    if not keys & set(selecting_keys):
        raise FilterError(f"name what to look up: give one of {', '.join(selecting_keys)}")
    return selection, keys


@readable
def files_page(request):
    """``/files/?lfn=EVNT.*&scope=mc23``: job files and catalogue files matching the filters."""
    try:
        selection, keys = _lookup(request, FILE_FILTERS, FILE_SELECTING_KEYS)
        params = read_params(request.GET)
    except FilterError as exc:
        return bad_request(request, str(exc))
    job_files = file_selectors.job_files_matching(selection)
    counts = facet_counts(job_files, FILE_FILTERS.facet_fields(), by_count=True)
    rows = file_selectors.job_files_listed(job_files, limit=min(selection.limit, selection.display_limit))
    catalogue = []
    if keys <= CATALOGUE_FILE_KEYS:
        catalogue = file_selectors.catalogue_files_listed(
            file_selectors.catalogue_files_matching(params), limit=selection.display_limit
        )
    else:
        selection.warnings.append(
            "The DDM catalogue is searched only by lfn, scope, guid and dataset: the other keys are job-file columns."
        )
    for row in catalogue:
        row["href"] = "/file/?" + urlencode({"lfn": row["lfn"], "scope": row["scope"]})
    for row in rows:
        row["href"] = "/file/?" + urlencode({"lfn": row["lfn"], **({"scope": row["scope"]} if row["scope"] else {})})
    context = {
        "title": "Files",
        "selection_echo": selection.echo_text,
        "warnings": selection.warnings,
        "files": rows,
        "catalogue": catalogue,
        "facets": facet_links(request.GET, counts),
    }
    json_data = {
        "selection": selection.echo,
        "warnings": selection.warnings,
        "selectionsummary": legacy_summary(counts),
        "files": rows,
        "catalogue": catalogue,
    }
    return respond(request, "monitor/files.html", context, json_data=json_data)


@readable
def file_page(request):
    """``/file/?lfn=X[&scope=S]``: one file's catalogue entry, replicas, datasets and the jobs that used it."""
    unknown = sorted(set(request.GET) - {"lfn", "scope", "json", "timestamp"})
    if unknown:
        return bad_request(request, f"unknown parameter {', '.join(unknown)}; allowed: lfn, scope")
    lfn = request.GET.get("lfn", "").strip()
    scope = request.GET.get("scope", "").strip() or None
    if not lfn:
        return bad_request(request, "give lfn=<file name> (and scope=<scope> when several scopes hold it)")
    if ":" in lfn and scope is None:
        scope, lfn = lfn.split(":", 1)
    if "*" in lfn or "%" in lfn:
        return bad_request(request, "lfn must be one file name here: search with wildcards on /files/?lfn=")
    entries = file_selectors.file_catalogue_entries(lfn, scope)
    usages = file_selectors.file_job_usages(lfn, scope)
    if not entries and not usages:
        return not_found(request, f"no file {scope + ':' if scope else ''}{lfn} in the catalogue or in any job")
    task_ids = sorted({row["jeditaskid"] for row in usages if row["jeditaskid"]})
    catalogue = [
        {
            "scope": entry.scope,
            "lfn": entry.lfn,
            "guid": entry.guid,
            "fsize": entry.fsize,
            "adler32": entry.adler32,
            "nevents": entry.nevents,
            "creationtime": entry.creationtime,
        }
        for entry in entries
    ]
    replicas = file_selectors.file_replicas(entries)
    datasets = file_selectors.file_datasets(entries)
    for row in datasets:
        row["href"] = "/dataset/?" + urlencode(
            {"datasetname": f"{row['dataset__scope']}:{row['dataset__name']}"}, safe=":"
        )
    records = file_selectors.file_task_records(lfn, task_ids)
    echo = {"lfn": lfn, **({"scope": scope} if scope else {})}
    warnings = []
    if len(entries) > 1:
        warnings.append(f"{len(entries)} scopes hold a file of this name: add scope= to pick one.")
    if len(usages) == file_selectors.MAX_USAGES:
        warnings.append(f"Only the newest {file_selectors.MAX_USAGES} job files are listed.")
    context = {
        "title": f"File {lfn}",
        "selection_echo": ", ".join(f"{k}={v}" for k, v in echo.items()),
        "warnings": warnings,
        "catalogue": catalogue,
        "replicas": replicas,
        "datasets": datasets,
        "jobs": usages,
        "task_records": records,
    }
    json_data = {
        "selection": echo,
        "warnings": warnings,
        "file": catalogue,
        "replicas": replicas,
        "datasets": datasets,
        "jobs": usages,
        "taskfiles": records,
    }
    return respond(request, "monitor/file.html", context, json_data=json_data)


@readable
def datasets_page(request):
    """``/datasets/?datasetname=mc23.*&jeditaskid=N``: task datasets and catalogue datasets matching the filters."""
    try:
        selection, keys = _lookup(request, DATASET_FILTERS, DATASET_SELECTING_KEYS)
        params = read_params(request.GET)
    except FilterError as exc:
        return bad_request(request, str(exc))
    task_datasets = dataset_selectors.task_datasets_matching(selection)
    counts = facet_counts(task_datasets, DATASET_FILTERS.facet_fields(), by_count=True)
    rows = dataset_selectors.task_datasets_listed(task_datasets, limit=min(selection.limit, selection.display_limit))
    catalogue = []
    if keys <= CATALOGUE_DATASET_KEYS:
        catalogue = dataset_selectors.catalogue_datasets_listed(
            dataset_selectors.catalogue_datasets_matching(params["datasetname"]), limit=selection.display_limit
        )
    else:
        selection.warnings.append("The DDM catalogue is searched only by datasetname: the other keys are JEDI's.")
    for row in rows:
        row["href"] = "/dataset/?" + urlencode({"datasetname": row["datasetname"]}, safe=":")
    for row in catalogue:
        row["href"] = "/dataset/?" + urlencode({"datasetname": f"{row['scope']}:{row['name']}"}, safe=":")
    context = {
        "title": "Datasets",
        "selection_echo": selection.echo_text,
        "warnings": selection.warnings,
        "datasets": rows,
        "catalogue": catalogue,
        "facets": facet_links(request.GET, counts),
    }
    json_data = {
        "selection": selection.echo,
        "warnings": selection.warnings,
        "selectionsummary": legacy_summary(counts),
        "datasets": rows,
        "catalogue": catalogue,
    }
    return respond(request, "monitor/datasets.html", context, json_data=json_data)


@readable
def dataset_page(request):
    """``/dataset/?datasetname=scope:name``: the dataset's state, files, rules and the tasks using it."""
    unknown = sorted(set(request.GET) - {"datasetname", "json", "timestamp"})
    if unknown:
        return bad_request(request, f"unknown parameter {', '.join(unknown)}; allowed: datasetname")
    raw = request.GET.get("datasetname", "").strip()
    if not raw:
        return bad_request(request, "give datasetname=<scope:name>")
    if "*" in raw or "%" in raw:
        return bad_request(request, "datasetname must be one dataset here: search with wildcards on /datasets/")
    try:
        scope, name = did_split(raw)
    except DDMError as exc:
        return bad_request(request, str(exc))
    entry = dataset_selectors.dataset_catalogue_entry(scope, name, scoped=did_has_scope(raw))
    tasks = dataset_selectors.dataset_task_uses(scope, name)
    if entry is None and not tasks:
        return not_found(request, f"no dataset {raw} in the catalogue or in any task")
    for row in tasks:
        row["jobs_href"] = "/jobs/?" + urlencode({"jeditaskid": row["jeditaskid"], "datasetid": row["datasetid"]})
    nfiles, files = dataset_selectors.dataset_files(entry) if entry else (0, [])
    for row in files:
        row["href"] = "/file/?" + urlencode({"lfn": row["lfn"], "scope": row["scope"]})
    catalogue = None
    if entry is not None:
        catalogue = {
            "scope": entry.scope,
            "name": entry.name,
            "kind": entry.kind,
            "state": entry.state,
            "owner": entry.owner,
            "creationtime": entry.creationtime,
            "modificationtime": entry.modificationtime,
            "nfiles": nfiles,
            **dataset_selectors.dataset_relatives(entry),
        }
    rules = dataset_selectors.dataset_rules(entry) if entry else []
    warnings = []
    if entry is None:
        warnings.append("The DDM catalogue does not know this dataset: only JEDI's records are shown.")
    if nfiles > len(files):
        warnings.append(f"Only the first {len(files)} of {nfiles} files are listed.")
    echo = {"datasetname": f"{entry.scope if entry else scope}:{name}"}
    context = {
        "title": f"Dataset {echo['datasetname']}",
        "selection_echo": f"datasetname={echo['datasetname']}",
        "warnings": warnings,
        "dataset": catalogue,
        "files": files,
        "rules": rules,
        "tasks": tasks,
    }
    json_data = {
        "selection": echo,
        "warnings": warnings,
        "dataset": catalogue,
        "files": files,
        "rules": rules,
        "tasks": tasks,
    }
    return respond(request, "monitor/dataset.html", context, json_data=json_data)
