"""``@readable``: a monitor page answers 403 to callers who may not read the monitor (iam.md §11)."""

from functools import wraps

from apps.monitor.views.identity import read_refused


def readable(view):
    @wraps(view)
    def guarded(request, *args, **kwargs):
        refused = read_refused(request)
        if refused is not None:
            return refused
        return view(request, *args, **kwargs)

    return guarded
