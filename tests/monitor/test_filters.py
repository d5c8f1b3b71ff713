"""The filter grammar (monitor.md §2–§3), table-driven and without a database: query string -> Q, echo, error."""

import datetime as dt

import pytest
from django.db.models import F, Q
from django.http import QueryDict

from apps.monitor.filters.jobs import ANALYSIS_LABELS, JOB_FILTERS, PRODUCTION_LABELS
from apps.monitor.filters.parser import FilterError, parse_selection
from apps.monitor.filters.permalink import permalink_query
from apps.monitor.filters.sites import SITE_FILTERS
from apps.monitor.filters.tasks import TASK_FILTERS
from apps.monitor.filters.workers import WORKER_FILTERS

NOW = dt.datetime(2025, 6, 1, 12, 0, 0)
H = dt.timedelta(hours=1)


def parse(query: str, registry=JOB_FILTERS, **kwargs):
    return parse_selection(QueryDict(query), registry, view=registry.name, now=NOW, **kwargs)


def filters_q(query: str, registry=JOB_FILTERS) -> Q:
    """The Q of ``query`` without a time window (fulllist=true)."""
    return parse(query + "&fulllist=true", registry).q


def since(hours: float, field: str = "modificationtime") -> Q:
    return Q(**{f"{field}__gte": NOW - dt.timedelta(hours=hours)})


def both(*parts: Q) -> Q:
    combined = Q()
    for part in parts:
        combined &= part
    return combined


# --- value grammar: query -> Q --------------------------------------------------------------------
GRAMMAR = [
    ("jobstatus=failed", Q(jobstatus="failed")),
    ("JobStatus=failed", Q(jobstatus="failed")),
    ("jobstatus=failed|finished", Q(jobstatus__in=["failed", "finished"])),
    ("jobstatus=failed,finished", Q(jobstatus__in=["failed", "finished"])),
    ("jobstatus=failed|finished,cancelled", Q(jobstatus__in=["failed", "finished", "cancelled"])),
    ("jobstatus=!failed", ~Q(jobstatus="failed")),
    ("jobstatus=!failed|!finished", both(~Q(jobstatus="failed"), ~Q(jobstatus="finished"))),
    ("jobstatus=running|!failed", both(Q(jobstatus="running"), ~Q(jobstatus="failed"))),
    ("computingsite=CERN*", Q(computingsite__istartswith="CERN")),
    ("computingsite=*CERN", Q(computingsite__iendswith="CERN")),
    ("computingsite=*CERN*", Q(computingsite__icontains="CERN")),
    ("computingsite=C*N", both(Q(computingsite__istartswith="C"), Q(computingsite__iendswith="N"))),
    (
        "computingsite=A*B*C",
        both(Q(computingsite__istartswith="A"), Q(computingsite__icontains="B"), Q(computingsite__iendswith="C")),
    ),
    ("computingsite=*A*,*B*", both(Q(computingsite__icontains="A"), Q(computingsite__icontains="B"))),
    ("computingsite=A*|*B", Q(computingsite__istartswith="A") | Q(computingsite__iendswith="B")),
    ("computingsite=!*TEST*", ~Q(computingsite__icontains="TEST")),
    ("computingsite=SITE_A|*B*", Q(computingsite="SITE_A") | Q(computingsite__icontains="B")),
    ("computingsite=*", Q(computingsite__isnull=False)),
    ("computingsite=!*", ~Q(computingsite__isnull=False)),
    ("computingsite=Not specified", Q(computingsite__isnull=True) | Q(computingsite="")),
    ("computingsite=not specified", Q(computingsite__isnull=True) | Q(computingsite="")),
    ("computingsite=!Not specified", ~(Q(computingsite__isnull=True) | Q(computingsite=""))),
    ("computingsite=Not specified|X", Q(computingsite="X") | (Q(computingsite__isnull=True) | Q(computingsite=""))),
    ("jeditaskid=42", Q(jeditaskid=42)),
    ("jeditaskid=42|43", Q(jeditaskid__in=[42, 43])),
    ("jeditaskid=42,43", Q(jeditaskid__in=[42, 43])),
    ("jeditaskid=!42", ~Q(jeditaskid=42)),
    ("jeditaskid=Not specified", Q(jeditaskid__isnull=True)),
    ("jeditaskid=*", Q(jeditaskid__isnull=False)),
    ("pandaid=7", Q(pandaid=7)),
    ("attemptnr=-1", Q(attemptnr=-1)),
    ("piloterrorcode=1305", Q(piloterrorcode=1305)),
    ("exeerrorcode=65", Q(exeerrorcode=65)),
    ("ddmerrorcode=100", Q(ddmerrorcode=100)),
    ("jobdispatchererrorcode=100", Q(jobdispatchererrorcode=100)),
    ("taskbuffererrorcode=300", Q(taskbuffererrorcode=300)),
    ("superrorcode=2", Q(superrorcode=2)),
    ("brokerageerrorcode=1|2", Q(brokerageerrorcode__in=[1, 2])),
    ("transexitcode=3", Q(transexitcode="3")),
    ("cpuconversion=1.5", Q(cpuconversion=1.5)),
    ("produsername=Jane Doe", Q(produsername="Jane Doe")),
    ("produsername= Jane Doe ", Q(produsername="Jane Doe")),
    ("resource_type=SCORE", Q(resource_type="SCORE")),
    ("resourcetype=MCORE|SCORE", Q(resource_type__in=["MCORE", "SCORE"])),
    ("gshare=Express", Q(gshare="Express")),
    ("specialhandling=*debug*", Q(specialhandling__icontains="debug")),
    ("jobname=*.EVNT.*", Q(jobname__icontains=".EVNT.")),
    ("jobstatus=failed&computingsite=X", both(Q(computingsite="X"), Q(jobstatus="failed"))),
    ("computingsite=X&jobstatus=failed", both(Q(computingsite="X"), Q(jobstatus="failed"))),
    ("priorityrange=900:1100", Q(currentpriority__gte=900, currentpriority__lte=1100)),
    ("priorityrange=-500:-100", Q(currentpriority__gte=-500, currentpriority__lte=-100)),
    ("priorityrange=-10:10", Q(currentpriority__gte=-10, currentpriority__lte=10)),
    ("jobsetrange=5:9", Q(jobsetid__gte=5, jobsetid__lte=9)),
    ("neventsrange=100-200", Q(nevents__gte=100, nevents__lte=200)),
    ("minramcount=2-4GB", Q(minramcount__gte=2000, minramcount__lte=3999)),
    ("minramcount=2-4gb", Q(minramcount__gte=2000, minramcount__lte=3999)),
    ("minramcount=2000", Q(minramcount=2000)),
    ("minramcount=2000|4000", Q(minramcount__in=[2000, 4000])),
    ("reqid_from=10", Q(reqid__gte=10)),
    ("reqid_to=20", Q(reqid__lte=20)),
    ("reqid_from=10&reqid_to=20", both(Q(reqid__gte=10), Q(reqid__lte=20))),
    ("jobtype=analysis", Q(prodsourcelabel__in=ANALYSIS_LABELS)),
    ("jobtype=analy", Q(prodsourcelabel__in=ANALYSIS_LABELS)),
    ("jobtype=production", Q(prodsourcelabel__in=PRODUCTION_LABELS)),
    ("jobtype=prod", Q(prodsourcelabel__in=PRODUCTION_LABELS)),
    (
        "jobtype=groupproduction",
        Q(prodsourcelabel="managed", workinggroup__isnull=False) & ~Q(workinggroup=""),
    ),
    ("jobtype=eventservice", Q(eventservice=1)),
    ("jobtype=esmerge", Q(eventservice=2)),
    ("jobtype=test", Q(prodsourcelabel__icontains="test")),
    ("jobtype=eventservice|esmerge", Q(eventservice=1) | Q(eventservice=2)),
    ("errorcategory=lostheartbeat", Q(jobdispatchererrorcode__in=[100])),
    ("errorcategory=memory", Q(piloterrorcode__in=[1212, 1223, 1235])),
    (
        "errorcategory=harvester",
        Q(superrorcode__in=[1, 2]) | Q(taskbuffererrorcode__in=[300]),
    ),
    ("jobparam=maxEvents", Q(params__jobparameters__icontains="maxEvents")),
    ("jobparam=--in=*", Q(params__jobparameters__istartswith="--in=")),
    ("jobparam=*a*,*b*", both(Q(params__jobparameters__icontains="a"), Q(params__jobparameters__icontains="b"))),
    ("jobparam=!debug", ~Q(params__jobparameters__icontains="debug")),
    ("transferringnotupdated=3", Q(jobstatus="transferring", statechangetime__lte=NOW - 3 * H)),
    (
        "durationmin=10-20",
        Q(
            endtime__isnull=False,
            endtime__gte=F("starttime") + dt.timedelta(minutes=10),
            endtime__lte=F("starttime") + dt.timedelta(minutes=20),
        )
        | Q(
            endtime__isnull=True,
            starttime__lte=NOW - dt.timedelta(minutes=10),
            starttime__gte=NOW - dt.timedelta(minutes=20),
        ),
    ),
]


@pytest.mark.parametrize(("query", "expected"), GRAMMAR, ids=[case[0] for case in GRAMMAR])
def test_the_query_string_becomes_the_expected_q(query, expected):
    assert filters_q(query) == expected


def test_statenotupdated_selects_non_final_jobs_whose_state_is_old():
    children = dict(filters_q("statenotupdated=6").children)
    assert children["statechangetime__lte"] == NOW - 6 * H
    assert "running" in children["jobstatus__in"] and "failed" not in children["jobstatus__in"]


# --- the normalized echo ------------------------------------------------------------------------------
ECHOES = [
    ("jobstatus=failed,finished", {"jobstatus": "failed|finished", "hours": "12"}),
    ("JOBSTATUS=failed", {"jobstatus": "failed", "hours": "12"}),
    ("computingsite=X&jobstatus=failed", {"computingsite": "X", "jobstatus": "failed", "hours": "12"}),
    ("jobstatus=failed&computingsite=X", {"computingsite": "X", "jobstatus": "failed", "hours": "12"}),
    ("jobstatus=! failed", {"jobstatus": "!failed", "hours": "12"}),
    ("computingsite=not specified", {"computingsite": "Not specified", "hours": "12"}),
    ("computingsite=*a*,*b*|c", {"computingsite": "*a*,*b*|c", "hours": "12"}),
    ("jeditaskid=5|6", {"jeditaskid": "5|6", "hours": "12"}),
    ("jobtype=analy", {"jobtype": "analysis", "hours": "12"}),
    ("minramcount=2-4gb", {"minramcount": "2-4GB", "hours": "12"}),
    ("priorityrange=-5:5", {"priorityrange": "-5:5", "hours": "12"}),
    ("durationmin=1-2", {"durationmin": "1-2", "hours": "12"}),
    ("hours=3", {"hours": "3"}),
    ("days=2", {"days": "2"}),
    ("date_from=2025-05-01&date_to=2025-05-02", {"date_from": "2025-05-01", "date_to": "2025-05-02"}),
    ("date_from=2025-05-01", {"date_from": "2025-05-01", "date_to": "now"}),
    ("earlierthan=6", {"earlierthan": "6"}),
    ("earlierthandays=2&days=5", {"days": "5", "earlierthandays": "2"}),
    ("endtimerange=2025-05-01|2025-05-03", {"endtimerange": "2025-05-01|2025-05-03"}),
    ("fulllist=true", {"fulllist": "true"}),
    ("jeditaskid=9", {"jeditaskid": "9", "days": "180", "limit": "200000", "mode": "drop"}),
    ("jeditaskid=9&hours=2", {"jeditaskid": "9", "hours": "2", "limit": "200000", "mode": "drop"}),
    ("jeditaskid=9&mode=nodrop", {"jeditaskid": "9", "days": "180", "limit": "200000", "mode": "nodrop"}),
    (
        "jeditaskid=9&jobtype=eventservice",
        {"jeditaskid": "9", "jobtype": "eventservice", "days": "180", "limit": "200000", "mode": "nodrop"},
    ),
    ("pandaid=123", {"pandaid": "123", "days": "180", "limit": "200000"}),
    ("jobname=job.1", {"jobname": "job.1", "days": "180", "limit": "200000"}),
    ("jobtype=eventservice", {"jobtype": "eventservice", "days": "2"}),
    ("batchid=77", {"batchid": "77", "days": "4"}),
    ("statenotupdated=4", {"statenotupdated": "4"}),
    (
        "jobstatus=failed&limit=50&display_limit=10",
        {"jobstatus": "failed", "hours": "12", "limit": "50", "display_limit": "10"},
    ),
    ("sortby=priority-ascending", {"hours": "12", "sortby": "priority-ascending"}),
    ("fields=pandaid,JobStatus", {"hours": "12", "fields": "pandaid,jobstatus"}),
    ("outputs=jobs", {"hours": "12", "outputs": "jobs"}),
    ("datasets=true", {"hours": "12", "datasets": "true"}),
    ("json&timestamp=123", {"hours": "12"}),
    ("json=", {"hours": "12"}),
]


@pytest.mark.parametrize(("query", "echo"), ECHOES, ids=[case[0] for case in ECHOES])
def test_the_selection_is_echoed_normalized(query, echo):
    assert parse(query).echo == echo


def test_the_echo_text_is_one_line_of_key_value_pairs():
    assert parse("jobstatus=failed&computingsite=X").echo_text == "computingsite=X, jobstatus=failed, hours=12"


# --- refused query strings -------------------------------------------------------------------------
ERRORS = [
    ("jobstatus=", "empty value for 'jobstatus'"),
    ("computingsite=A%", "'%' is not allowed"),
    ("computingsite=%25A", "'%' is not allowed"),
    ("nosuchkey=1", "unknown filter key(s) nosuchkey"),
    ("nosuchkey=1", "allowed keys:"),
    ("jeditaskid=abc", "jeditaskid: 'abc' is not an integer"),
    ("jeditaskid=1|x", "jeditaskid: 'x' is not an integer"),
    ("jeditaskid=12*", "wildcards are not allowed for int values"),
    ("pandaid=1.5", "'1.5' is not an integer"),
    ("cpuconversion=fast", "'fast' is not a number"),
    ("jobstatus=failed||finished", "empty term"),
    ("jobstatus=failed,", "empty term"),
    ("jobstatus=!", "'!' needs a value"),
    ("computingsite=*a*,", "empty pattern"),
    ("creationtime=2025-01-01", "creationtime is a date"),
    ("priorityrange=5", "priorityrange must be <low>:<high>"),
    ("priorityrange=a:b", "priorityrange bounds must be integers"),
    ("priorityrange=10:5", "priorityrange: 10 is greater than 5"),
    ("jobsetrange=1-5", "jobsetrange must be <low>:<high>"),
    ("durationmin=10", "durationmin must be <low>-<high>"),
    ("neventsrange=x-y", "neventsrange bounds must be integers"),
    ("minramcount=4-2GB", "minramcount: 4 is greater than 2"),
    ("minramcount=lots", "'lots' is not an integer"),
    ("reqid_from=x", "reqid_from must be an integer"),
    ("jobtype=gaming", "unknown job type 'gaming'"),
    ("errorcategory=cosmic", "unknown error category 'cosmic'"),
    ("statenotupdated=0", "statenotupdated must be a positive number of hours"),
    ("transferringnotupdated=x", "transferringnotupdated must be a number of hours"),
    ("hours=0", "hours must be a positive integer"),
    ("hours=abc", "hours must be an integer"),
    ("days=-1", "days must be a positive integer"),
    ("hours=1&days=1", "give hours or days, not both"),
    ("hours=1&date_from=2025-01-01", "give hours/days or date_from/date_to, not both"),
    ("date_from=yesterday", "is not a date"),
    ("date_from=2025-05-02&date_to=2025-05-01", "date_from is after date_to"),
    ("endtimerange=2025-05-02|2025-05-01", "endtimerange: 2025-05-02 is after 2025-05-01"),
    ("endtimerange=2025-05-01", "endtimerange must be <low>|<high>"),
    ("earlierthan=1&earlierthandays=1", "give earlierthan or earlierthandays, not both"),
    ("fulllist=true&hours=3", "fulllist=true takes no time window"),
    ("fulllist=maybe", "fulllist must be true or false"),
    ("limit=0", "limit must be a positive integer"),
    ("display_limit=many", "display_limit must be an integer"),
    ("sortby=fastest", "sortby must be one of"),
    ("sortby=time-sideways", "sortby must be one of"),
    ("mode=hide", "mode must be drop or nodrop"),
    ("fields=pandaid,colour", "fields: unknown field(s) colour"),
    ("datasets=perhaps", "datasets must be true or false"),
    ("cursor=2025-01-01T00:00:00,5&sortby=priority-descending", "cursor only works with sortby=time"),
    ("cursor=yesterday,5", "cursor must be <time ISO>,<id>"),
    ("harvesterid=h1&harvesterinstance=h2", "give harvesterid or harvesterinstance, not both"),
    ("harvesterid=Not specified&workerid=3", "takes no workerid or harvesterce"),
    ("workerid=x", "workerid: 'x' is not an integer"),
    ("queuecorecount=many", "queuecorecount: 'many' is not an integer"),
]


@pytest.mark.parametrize(("query", "message"), ERRORS, ids=[case[0] for case in ERRORS])
def test_a_bad_query_string_is_refused_with_a_clear_message(query, message):
    with pytest.raises(FilterError) as raised:
        parse(query)
    assert message in str(raised.value)


# --- time window -------------------------------------------------------------------------------------
WINDOWS = [
    ("", since(12)),
    ("hours=3", since(3)),
    ("days=2", since(48)),
    (
        "date_from=2025-05-01&date_to=2025-05-02",
        Q(
            modificationtime__gte=dt.datetime(2025, 5, 1),
            modificationtime__lte=dt.datetime(2025, 5, 2, 23, 59, 59, 999999),
        ),
    ),
    ("date_from=2025-05-01 10:30", Q(modificationtime__gte=dt.datetime(2025, 5, 1, 10, 30), modificationtime__lte=NOW)),
    (
        "date_to=2025-05-01T06:00:00",
        Q(modificationtime__gte=dt.datetime(2025, 4, 30, 18), modificationtime__lte=dt.datetime(2025, 5, 1, 6)),
    ),
    ("earlierthan=6", Q(modificationtime__lte=NOW - 6 * H)),
    ("earlierthandays=1&days=3", Q(modificationtime__gte=NOW - 72 * H, modificationtime__lte=NOW - 24 * H)),
    ("jeditaskid=5", both(Q(jeditaskid=5), since(180 * 24))),
    ("jeditaskid=5|6", both(Q(jeditaskid__in=[5, 6]), since(12))),
    ("jobtype=eventservice", both(Q(eventservice=1), since(48))),
    ("batchid=b1", both(Q(batchid="b1"), since(96))),
    ("fulllist=true", Q()),
    ("transferringnotupdated=2", Q(jobstatus="transferring", statechangetime__lte=NOW - 2 * H)),
    (
        "endtimerange=2025-05-01 00:00|2025-05-01 06:00",
        Q(endtime__gte=dt.datetime(2025, 5, 1), endtime__lte=dt.datetime(2025, 5, 1, 6)),
    ),
    ("jobstatus=running&hours=3", both(Q(jobstatus="running"), since(3) | Q(jobstatus__in=["running"]))),
    ("jobstatus=failed&hours=3", both(Q(jobstatus="failed"), since(3))),
    (
        "jobstatus=running|failed|activated",
        both(
            Q(jobstatus__in=["running", "failed", "activated"]), since(12) | Q(jobstatus__in=["activated", "running"])
        ),
    ),
]


@pytest.mark.parametrize(("query", "expected"), WINDOWS, ids=[case[0] or "(default)" for case in WINDOWS])
def test_the_time_window_follows_the_defaults_and_the_explicit_keys(query, expected):
    assert parse(query).q == expected


def test_an_active_state_filter_warns_that_the_window_is_not_applied_to_active_jobs():
    assert any("not applied to jobs in active states (running)" in w for w in parse("jobstatus=running").warnings)
    assert parse("jobstatus=failed").warnings == []


def test_a_deep_query_warns_that_the_window_is_widened():
    assert any("180 days" in w for w in parse("pandaid=5").warnings)


def test_a_view_default_can_replace_the_registry_default():
    assert parse("", defaults={"hours": 6}).q == since(6)


# --- output controls -----------------------------------------------------------------------------------
ORDERINGS = [
    ("", ["-modificationtime", "-pandaid"]),
    ("sortby=time-descending", ["-modificationtime", "-pandaid"]),
    ("sortby=time-ascending", ["modificationtime", "pandaid"]),
    ("sortby=create-descending", ["-creationtime", "-pandaid"]),
    ("sortby=statetime-ascending", ["statechangetime", "pandaid"]),
    ("sortby=priority-descending", ["-currentpriority", "-pandaid"]),
    ("sortby=duration-descending", ["-duration", "-pandaid"]),
    ("sortby=attemptnr-ascending", ["attemptnr", "pandaid"]),
    ("sortby=pandaid-descending", ["-pandaid"]),
    ("sortby=queuetime-ascending", ["queuetime", "pandaid"]),
    ("sortby=count", ["-modificationtime", "-pandaid"]),
]


@pytest.mark.parametrize(("query", "ordering"), ORDERINGS, ids=[case[0] or "(default)" for case in ORDERINGS])
def test_sortby_gives_the_ordering(query, ordering):
    assert parse(query).ordering == ordering


def test_duration_and_queuetime_sorts_bring_their_annotation():
    assert set(parse("sortby=duration-ascending").extra["annotations"]) == {"duration"}
    assert set(parse("sortby=queuetime-ascending").extra["annotations"]) == {"queuetime"}


def test_sortby_count_orders_facets_by_count():
    assert parse("sortby=count").extra["facet_order"] is True
    assert parse("").extra["facet_order"] is False


def test_limits_default_and_rise_for_one_task():
    selection = parse("")
    assert (selection.limit, selection.display_limit) == (20_000, 100)
    assert parse("jeditaskid=3").limit == 200_000
    assert parse("jeditaskid=3&limit=10").limit == 10


def test_fields_outputs_datasets_and_cursor_are_parsed():
    selection = parse("fields=PandaID,jobstatus&outputs=jobs,errsByCount&datasets=true&cursor=2025-05-01T10:00:00,77")
    assert selection.fields == ["pandaid", "jobstatus"]
    assert selection.extra["outputs"] == ["jobs", "errsByCount"]
    assert selection.extra["datasets"] is True
    assert selection.extra["cursor"] == (dt.datetime(2025, 5, 1, 10), 77)


def test_drop_mode_is_the_default_on_one_task_only():
    assert parse("jeditaskid=3").mode == "drop"
    assert parse("jeditaskid=3").extra["conditions"]
    assert parse("jeditaskid=3&mode=nodrop").mode == "nodrop"
    assert parse("computingsite=X").mode is None
    assert parse("jeditaskid=3", defaults={"mode": "nodrop"}).mode == "nodrop"
    assert parse("mode=drop").mode == "drop"


def test_atlas_jobtypes_also_test_the_transformation(settings):
    settings.PANDA_MONITOR_ATLAS_JOBTYPES = True
    assert filters_q("jobtype=analysis") == Q(prodsourcelabel__in=ANALYSIS_LABELS) & Q(
        transformation__startswith="http"
    )
    assert filters_q("jobtype=production") == Q(prodsourcelabel__in=PRODUCTION_LABELS) & Q(
        transformation__endswith=".py"
    )


def test_a_repeated_key_keeps_its_last_value():
    assert filters_q("jobstatus=failed&jobstatus=finished") == Q(jobstatus="finished")


# --- other registries -------------------------------------------------------------------------------
TASK_CASES = [
    ("status=running", Q(status="running")),
    ("username=*doe*", Q(username__icontains="doe")),
    ("jeditaskid=5|6", Q(jeditaskid__in=[5, 6])),
    ("category=production", Q(tasktype="prod") & ~Q(workinggroup__startswith="GP_")),
    ("category=group analysis", Q(tasktype="anal", workinggroup__isnull=False) & ~Q(workinggroup="")),
    ("category=service", ~Q(tasktype__in=("prod", "anal"))),
    ("project=mc23_13p6TeV", Q(taskname__istartswith="mc23_13p6TeV.")),
    ("tag=e8514_s4162", Q(taskname__iendswith="e8514_s4162")),
    ("stream=PhysCont", Q(taskname__icontains=".PhysCont.")),
    ("campaign=MC23:MC23a", Q(campaign="MC23:MC23a")),
    ("campaign=MC23", Q(campaign__istartswith="MC23")),
    ("campaign=MC23:MC23a|MC20", Q(campaign="MC23:MC23a") | Q(campaign__istartswith="MC20")),
    ("superstatus=running|done", Q(superstatus__in=["running", "done"])),
    ("reqid_from=3", Q(reqid__gte=3)),
]


@pytest.mark.parametrize(("query", "expected"), TASK_CASES, ids=[case[0] for case in TASK_CASES])
def test_task_keys_become_the_expected_q(query, expected):
    assert filters_q(query, TASK_FILTERS) == expected


def test_tasks_default_to_seven_days_and_refuse_job_keys():
    assert parse("", TASK_FILTERS).echo == {"days": "7"}
    with pytest.raises(FilterError, match="unknown filter key"):
        parse("jobtype=analysis", TASK_FILTERS)
    with pytest.raises(FilterError, match="unknown category"):
        parse("category=fun", TASK_FILTERS)


def test_workers_take_instance_as_harvesterid_and_a_window_on_lastupdate():
    selection = parse("instance=CERN_central_A&status=running", WORKER_FILTERS)
    assert selection.q == both(
        Q(harvesterid="CERN_central_A"), Q(status="running"), since(12, "lastupdate") | Q(status__in=["running"])
    )


def test_sites_have_no_time_window_and_filter_through_the_site():
    assert parse("tier=T1&status=online", SITE_FILTERS).q == both(Q(status="online"), Q(site__tier="T1"))
    with pytest.raises(FilterError, match="no time window"):
        parse("hours=3", SITE_FILTERS)


# --- permalink --------------------------------------------------------------------------------------
def test_the_permalink_freezes_a_relative_window():
    params = QueryDict("jobstatus=failed&hours=3")
    assert permalink_query(params, parse("jobstatus=failed&hours=3"), now=NOW) == (
        "jobstatus=failed&date_from=2025-06-01+09%3A00%3A00&date_to=2025-06-01+12%3A00%3A00"
    )


def test_the_permalink_freezes_the_default_window_too():
    assert permalink_query(QueryDict(""), parse(""), now=NOW) == (
        "date_from=2025-06-01+00%3A00%3A00&date_to=2025-06-01+12%3A00%3A00"
    )


def test_the_permalink_of_a_full_list_has_no_window():
    assert permalink_query(QueryDict("fulllist=true"), parse("fulllist=true"), now=NOW) == "fulllist=true"


def test_the_permalink_rounds_its_end_up_to_the_next_second_so_the_newest_rows_stay_in():
    now = NOW + dt.timedelta(microseconds=250_000)
    assert permalink_query(QueryDict("hours=3"), parse("hours=3"), now=now) == (
        "date_from=2025-06-01+09%3A00%3A00&date_to=2025-06-01+12%3A00%3A01"
    )
