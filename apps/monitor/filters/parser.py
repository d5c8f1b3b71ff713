"""The one parser of the filter grammar (monitor.md §2–§3): a query string -> :class:`Selection`.

``parse_selection(request.GET, JOB_FILTERS, view="jobs")`` validates every key and value (unknown
keys, empty values, ``%`` and badly typed values raise :class:`FilterError`, which views answer with
HTTP 400 and its message), builds one ``Q`` for the filters and the time window, the ordering, the
fetch cap, the output controls, a normalized echo and warnings. Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.http import QueryDict

from apps.core.timeutil import utcnow
from apps.monitor.filters.registry import DATETIME, Registry
from apps.monitor.filters.values import NOT_SPECIFIED, ValueError400, parse_datetime, value_q

DEEP_QUERY_DAYS = 180

# Output controls every list page takes (monitor.md §2), and keys that never filter.
OUTPUT_KEYS = frozenset(
    {"limit", "display_limit", "sortby", "mode", "fields", "outputs", "datasets", "fulllist", "cursor"}
)
IGNORED_KEYS = frozenset({"json", "timestamp"})
EMPTY_ALLOWED = frozenset({"json", "timestamp"})
WINDOW_KEYS = frozenset({"hours", "days", "date_from", "date_to", "earlierthan", "earlierthandays"})
BOOLEAN_TRUE = frozenset({"true", "1", "yes", "on"})
BOOLEAN_FALSE = frozenset({"false", "0", "no", "off"})


class FilterError(ValueError):
    """A query string the grammar refuses; the message is the HTTP 400 body."""


@dataclass
class Selection:
    q: Q
    window_field: str | None
    date_from: dt.datetime | None
    date_to: dt.datetime | None
    ordering: list[str]
    limit: int
    display_limit: int
    mode: str | None
    fields: list[str] | None
    echo: dict[str, str]
    warnings: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def echo_text(self) -> str:
        """One line: ``key=value`` pairs in the echo's order, comma separated."""
        return ", ".join(f"{key}={value}" for key, value in self.echo.items())

    def window_q(self, field: str = "modificationtime") -> Q:
        """The selection's time window on ``field`` of another table (error rows, a user's tasks)."""
        q = Q()
        if self.date_from is not None:
            q &= Q(**{f"{field}__gte": self.date_from})
        if self.date_to is not None:
            q &= Q(**{f"{field}__lte": self.date_to})
        return q

    def outputs(self, allowed: tuple[str, ...]) -> list[str]:
        """The parts ``outputs=`` asks for (default: all of ``allowed``); FilterError for an unknown one."""
        outputs = self.extra.get("outputs") or list(allowed)
        unknown = [name for name in outputs if name not in allowed]
        if unknown:
            raise FilterError(f"outputs: unknown {', '.join(unknown)}; one of {', '.join(allowed)}")
        return outputs

    def filter(self, queryset: QuerySet) -> QuerySet:
        """The matching rows, unordered (for counts and facets)."""
        for condition in self.extra.get("conditions", ()):
            queryset = queryset.filter(condition)
        return queryset.filter(self.q)

    def apply(self, queryset: QuerySet) -> QuerySet:
        """The filtered, ordered queryset (not sliced: the caller takes ``limit`` or a page)."""
        annotations = self.extra.get("annotations") or {}
        if annotations:
            queryset = queryset.annotate(**annotations)
        queryset = self.filter(queryset)
        return queryset.order_by(*self.ordering) if self.ordering else queryset


@dataclass
class ParseContext:
    """What special-key handlers read and write while one query string is parsed."""

    registry: Registry
    view: str
    now: dt.datetime
    params: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    no_window: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # Expression conditions (Exists(...)) that a Q cannot hold portably; Selection.apply filters on them.
    conditions: list[Any] = field(default_factory=list)


def read_params(params: QueryDict | dict) -> dict[str, str]:
    """Lower-cased keys (the last value of a repeated key wins), stripped values; empty and ``%`` refused."""
    items: dict[str, str] = {}
    keys = params.keys()
    for key in keys:
        value = params.getlist(key)[-1] if hasattr(params, "getlist") else params[key]
        value = "" if value is None else str(value).strip()
        name = key.strip().lower()
        if not name:
            raise FilterError("empty parameter name")
        if "%" in value or "%" in name:
            raise FilterError(f"'%' is not allowed in {name}={value!r}: use '*' as the wildcard")
        if not value and name not in EMPTY_ALLOWED:
            raise FilterError(f"empty value for {name!r}")
        items[name] = value
    return items


def allowed_keys(registry: Registry) -> list[str]:
    keys = set(registry.fields) | set(registry.special) | OUTPUT_KEYS | IGNORED_KEYS | WINDOW_KEYS
    keys |= {key for group in registry.groups for key in group.keys}
    keys |= {f"{key}range" for key in registry.datetime_keys()}
    keys |= registry.passthrough
    return sorted(keys)


def positive_int(name: str, text: str, *, allow_zero: bool = False) -> int:
    try:
        number = int(text)
    except ValueError:
        raise FilterError(f"{name} must be an integer, not {text!r}") from None
    if number < 0 or (number == 0 and not allow_zero):
        raise FilterError(f"{name} must be a positive integer, not {text!r}")
    return number


def parse_bool(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in BOOLEAN_TRUE:
        return True
    if lowered in BOOLEAN_FALSE:
        return False
    raise FilterError(f"{name} must be true or false, not {text!r}")


def parse_selection(
    params: QueryDict | dict,
    registry: Registry,
    *,
    view: str,
    defaults: dict | None = None,
    now: dt.datetime | None = None,
) -> Selection:
    """Parse ``params`` against ``registry``; ``defaults`` override the registry's (``hours``, ``limit``, ...)."""
    values = read_params(params)
    allowed = allowed_keys(registry)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise FilterError(f"unknown filter key(s) {', '.join(unknown)}; allowed keys: {', '.join(allowed)}")
    ctx = ParseContext(
        registry=registry,
        view=view,
        now=now or utcnow(),
        params=values,
        defaults={
            "hours": registry.default_hours,
            "limit": registry.default_limit,
            "display_limit": registry.default_display_limit,
            "sortby": registry.default_sort,
            "mode": None,
            **(defaults or {}),
        },
    )
    echo: dict[str, str] = {}
    q = Q()
    # Keys in sorted order: the same selection gives the same Q (and SQL) whatever the parameter order.
    for key, raw in sorted(values.items()):
        if key in registry.fields:
            spec = registry.fields[key]
            if spec.type == DATETIME:
                raise FilterError(f"{key} is a date: filter it with {key}range=<from>|<to> or date_from/date_to")
            try:
                field_q, echoed = value_q(spec, raw)
            except ValueError400 as exc:
                raise FilterError(f"{key}: {exc}") from None
            q &= field_q
            echo[key] = echoed
        elif key in registry.special:
            special = registry.special[key]
            try:
                field_q, echoed = special.handler(raw, ctx)
            except ValueError400 as exc:
                raise FilterError(f"{key}: {exc}") from None
            q &= field_q
            echo[key] = echoed
            ctx.no_window = ctx.no_window or special.drops_window
    for group in registry.groups:
        given = {key: values[key] for key in group.keys if key in values}
        if given:
            try:
                group_q, echoed = group.handler(given, ctx)
            except ValueError400 as exc:
                raise FilterError(str(exc)) from None
            q &= group_q
            echo.update(echoed)
    echo = dict(sorted(echo.items()))
    if registry.adjust_defaults:
        registry.adjust_defaults(values, ctx)
    window_q, window_echo, date_from, date_to = parse_window(values, ctx)
    deep = is_deep_query(values, registry)
    limit = ctx.defaults["limit"]
    q &= window_q
    echo.update(window_echo)
    if deep and "limit" not in values and limit < registry.deep_limit:
        limit = registry.deep_limit
        echo["limit"] = str(limit)
    selection = Selection(
        q=q,
        window_field=registry.window_field,
        date_from=date_from,
        date_to=date_to,
        ordering=[],
        limit=limit,
        display_limit=ctx.defaults["display_limit"],
        mode=ctx.defaults["mode"],
        fields=None,
        echo=echo,
        warnings=ctx.warnings,
        extra=ctx.extra,
    )
    parse_outputs(values, ctx, selection)
    if registry.finish:
        registry.finish(ctx)
    selection.mode = ctx.extra.pop("mode", selection.mode)
    if selection.mode:
        echo["mode"] = selection.mode
    if ctx.conditions:
        selection.extra["conditions"] = ctx.conditions
    selection.extra["params"] = {key: values[key] for key in registry.passthrough if key in values}
    selection.extra["deep"] = deep
    return selection


def is_deep_query(values: dict[str, str], registry: Registry) -> bool:
    """A URL naming one object: a single-object key with one plain value (no ``|``, ``,``, ``!``, ``*``)."""
    for key in registry.single_object_keys:
        raw = values.get(key)
        if raw and not any(mark in raw for mark in "|,!*") and raw.lower() != NOT_SPECIFIED.lower():
            return True
    return False


def parse_window(
    values: dict[str, str], ctx: ParseContext
) -> tuple[Q, dict[str, str], dt.datetime | None, dt.datetime | None]:
    """The time window of monitor.md §2–§3 on the registry's window field, with its echo."""
    registry = ctx.registry
    now = ctx.now
    echo: dict[str, str] = {}
    q = Q()
    explicit_range = False
    for key in registry.datetime_keys():
        raw = values.get(f"{key}range")
        if raw is None:
            continue
        low, high = split_range(f"{key}range", raw, "|")
        try:
            start, end = parse_datetime(low), parse_datetime(high, end_of_day=True)
        except ValueError400 as exc:
            raise FilterError(f"{key}range: {exc}") from None
        if start > end:
            raise FilterError(f"{key}range: {low} is after {high}")
        path = registry.fields[key].path
        q &= Q(**{f"{path}__gte": start, f"{path}__lte": end})
        echo[f"{key}range"] = f"{low}|{high}"
        explicit_range = True
    field_name = registry.window_field
    given = [key for key in WINDOW_KEYS if key in values]
    fulllist = parse_bool("fulllist", values["fulllist"]) if "fulllist" in values else False
    if field_name is None:
        if given:
            raise FilterError(f"this page has no time window: {', '.join(sorted(given))} not allowed")
        return q, echo, None, None
    if "hours" in values and "days" in values:
        raise FilterError("give hours or days, not both")
    if ("hours" in values or "days" in values) and ("date_from" in values or "date_to" in values):
        raise FilterError("give hours/days or date_from/date_to, not both")
    if "earlierthan" in values and "earlierthandays" in values:
        raise FilterError("give earlierthan or earlierthandays, not both")
    start = end = None
    if "date_from" in values or "date_to" in values:
        try:
            end = parse_datetime(values["date_to"], end_of_day=True) if "date_to" in values else now
            if "date_from" in values:
                start = parse_datetime(values["date_from"])
            else:
                start = end - dt.timedelta(hours=ctx.defaults["hours"] or 12)
        except ValueError400 as exc:
            raise FilterError(f"date_from/date_to: {exc}") from None
        if start > end:
            raise FilterError("date_from is after date_to")
        echo["date_from"] = values.get("date_from") or start.strftime("%Y-%m-%d %H:%M:%S")
        echo["date_to"] = values.get("date_to") or "now"
    elif "hours" in values:
        hours = positive_int("hours", values["hours"])
        start, end = now - dt.timedelta(hours=hours), None
        echo["hours"] = str(hours)
    elif "days" in values:
        days = positive_int("days", values["days"])
        start, end = now - dt.timedelta(days=days), None
        echo["days"] = str(days)
    if "earlierthan" in values or "earlierthandays" in values:
        if "earlierthan" in values:
            hours = positive_int("earlierthan", values["earlierthan"], allow_zero=True)
            echo["earlierthan"] = str(hours)
        else:
            days = positive_int("earlierthandays", values["earlierthandays"], allow_zero=True)
            hours = days * 24
            echo["earlierthandays"] = str(days)
        cutoff = now - dt.timedelta(hours=hours)
        end = cutoff if end is None else min(end, cutoff)
    explicit = bool(given) or explicit_range
    if fulllist:
        echo["fulllist"] = "true"
        if given:
            raise FilterError("fulllist=true takes no time window")
        return q, echo, None, None
    if not explicit and not ctx.no_window:
        if is_deep_query(values, registry):
            start = now - dt.timedelta(days=DEEP_QUERY_DAYS)
            echo["days"] = str(DEEP_QUERY_DAYS)
            ctx.warnings.append(
                f"A single object is named: the time window is widened to the last {DEEP_QUERY_DAYS} days."
            )
        elif ctx.defaults["hours"]:
            hours = ctx.defaults["hours"]
            start = now - dt.timedelta(hours=hours)
            if hours % 24 == 0 and hours >= 48:
                echo["days"] = str(hours // 24)
            else:
                echo["hours"] = str(hours)
    if start is None and end is None:
        return q, echo, None, None
    window = Q()
    if start is not None:
        window &= Q(**{f"{field_name}__gte": start})
    if end is not None:
        window &= Q(**{f"{field_name}__lte": end})
    exempt = active_states_named(values, ctx)
    if exempt:
        window |= Q(**{f"{registry.fields[registry.status_key].path}__in": sorted(exempt)})
        ctx.warnings.append(
            f"The time window is not applied to {registry.name} in active states ({', '.join(sorted(exempt))}): "
            "all of them are shown."
        )
    return q & window, echo, start, end


def active_states_named(values: dict[str, str], ctx: ParseContext) -> set[str]:
    """The non-final states a positive status filter names (wildcards excluded)."""
    registry = ctx.registry
    if not registry.status_key or registry.status_key not in values:
        return set()
    named = set()
    for chunk in values[registry.status_key].replace(",", "|").split("|"):
        state = chunk.strip()
        if state and not state.startswith("!") and state in registry.active_states:
            named.add(state)
    return named


def split_range(name: str, raw: str, separator: str) -> tuple[str, str]:
    """``lo<sep>hi``; for ``-`` as separator a leading minus belongs to the bound."""
    if separator == "-":
        # Find a '-' that is not a sign: the first one after a digit.
        for index in range(1, len(raw)):
            if raw[index] == "-" and raw[index - 1] != "-":
                return raw[:index].strip(), raw[index + 1 :].strip()
        raise FilterError(f"{name} must be <low>-<high>, not {raw!r}")
    low, sep, high = raw.partition(separator)
    if not sep or not low.strip() or not high.strip():
        raise FilterError(f"{name} must be <low>{separator}<high>, not {raw!r}")
    return low.strip(), high.strip()


def int_range(name: str, raw: str, separator: str) -> tuple[int, int]:
    low, high = split_range(name, raw, separator)
    try:
        lo, hi = int(low), int(high)
    except ValueError:
        raise FilterError(f"{name} bounds must be integers, not {raw!r}") from None
    if lo > hi:
        raise FilterError(f"{name}: {lo} is greater than {hi}")
    return lo, hi


def parse_outputs(values: dict[str, str], ctx: ParseContext, selection: Selection) -> None:
    registry = ctx.registry
    echo = selection.echo
    if "limit" in values:
        selection.limit = positive_int("limit", values["limit"])
        echo["limit"] = str(selection.limit)
    if "display_limit" in values:
        selection.display_limit = positive_int("display_limit", values["display_limit"])
        echo["display_limit"] = str(selection.display_limit)
    sortby = values.get("sortby") or ctx.defaults["sortby"]
    selection.ordering, annotations, facet_order = parse_sort(sortby, registry)
    if annotations:
        selection.extra["annotations"] = annotations
    selection.extra["sortby"] = sortby
    selection.extra["facet_order"] = facet_order
    if "sortby" in values:
        echo["sortby"] = sortby
    if "mode" in values:
        mode = values["mode"].lower()
        if mode not in ("drop", "nodrop"):
            raise FilterError(f"mode must be drop or nodrop, not {values['mode']!r}")
        ctx.extra["mode"] = mode
    if "fields" in values:
        names = [name.strip().lower() for name in values["fields"].split(",") if name.strip()]
        columns = {f.name for f in registry.model._meta.concrete_fields}
        bad = [name for name in names if name not in columns]
        if bad or not names:
            raise FilterError(f"fields: unknown field(s) {', '.join(bad) or '(none given)'}")
        selection.fields = names
        echo["fields"] = ",".join(names)
    if "outputs" in values:
        outputs = [name.strip() for name in values["outputs"].split(",") if name.strip()]
        selection.extra["outputs"] = outputs
        echo["outputs"] = ",".join(outputs)
    if "datasets" in values:
        selection.extra["datasets"] = parse_bool("datasets", values["datasets"])
        echo["datasets"] = str(selection.extra["datasets"]).lower()
    if "cursor" in values:
        selection.extra["cursor"] = parse_cursor(values["cursor"], selection.ordering)


def parse_sort(sortby: str | None, registry: Registry) -> tuple[list[str], dict, bool]:
    """``<name>-descending|-ascending`` or ``count`` (facets by count; rows keep the default order)."""
    if not sortby:
        return [], {}, False
    if sortby == "count":
        ordering, annotations, _ = parse_sort(registry.default_sort, registry)
        return ordering, annotations, True
    name, _, direction = sortby.rpartition("-")
    option = registry.sort_options.get(name)
    if option is None or direction not in ("descending", "ascending"):
        choices = [f"{n}-descending|{n}-ascending" for n in registry.sort_options] + ["count"]
        raise FilterError(f"sortby must be one of {', '.join(choices)}, not {sortby!r}")
    sign = "-" if direction == "descending" else ""
    return [sign + name for name in option.fields], dict(option.annotations), False


def parse_cursor(raw: str, ordering: list[str]) -> tuple[dt.datetime, int]:
    """``cursor=<modificationtime ISO>,<pk>``: the last row of the previous page (keyset pagination)."""
    if not ordering or ordering[0].lstrip("-") != "modificationtime":
        raise FilterError("cursor only works with sortby=time-descending or time-ascending")
    stamp, _, key = raw.rpartition(",")
    try:
        return dt.datetime.fromisoformat(stamp), int(key)
    except ValueError:
        raise FilterError(f"cursor must be <time ISO>,<id>, not {raw!r}") from None
