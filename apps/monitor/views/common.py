"""What every monitor view shares: one context, rendered as HTML or as JSON (monitor.md §4)."""

import datetime as dt
import decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

JSON_MEDIA_TYPES = ("application/json", "text/json")


def wants_json(request: HttpRequest) -> bool:
    """``?json`` (any value, also empty) or an ``Accept`` header naming JSON."""
    if "json" in request.GET:
        return True
    accept = request.headers.get("Accept", "")
    return any(media in accept for media in JSON_MEDIA_TYPES)


class MonitorJSONEncoder(DjangoJSONEncoder):
    """Dates as ISO strings (monitor.md §4), decimals as numbers, sets and tuples as lists."""

    def default(self, o):
        if isinstance(o, (dt.datetime, dt.date)):
            return o.isoformat()
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        if isinstance(o, (set, frozenset)):
            return sorted(o, key=str)
        return super().default(o)


def json_response(data, status: int = 200) -> HttpResponse:
    return JsonResponse(data, status=status, safe=False, encoder=MonitorJSONEncoder)


def respond(request: HttpRequest, template: str, context: dict, json_data=None) -> HttpResponse:
    """Render ``template`` with ``context``, or ``json_data`` (default: ``context``) as JSON when asked."""
    if wants_json(request):
        return json_response(context if json_data is None else json_data)
    return render(request, template, context)
