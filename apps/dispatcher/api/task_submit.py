"""Task submission (protocol.md §10.1, §10.3): v1 ``task/submit`` and the legacy ``insertTaskParams``.

* v1: codes 0 and 3 answer ``success: true``, ``message: "succeeded. new jediTaskID=<N>"``,
  ``data: <N>``; every other outcome ``success: false`` with the code in ``data``.
* legacy (panda-client 1.x ``Client.insertTaskParams``): the body is a protocol-0 pickle of a
  2-tuple — ``(code, message)`` with ``properErrorCode=True``, else ``(True|False, message)`` — which
  that client unpickles (it also accepts the text when it was pickled from a ``str``) and from
  which it extracts the task id with ``jediTaskID=(\\d+)``. The server only ever *writes* pickles.
"""

import json
import logging
import pickle

from django.http import HttpResponse

from apps.core.values import as_bool, as_int, is_null
from apps.dispatcher.encoding import error_text, v1_fail, v1_ok
from apps.dispatcher.registry import Param, legacy_method, v1_method
from apps.jedi.services.submission import REFUSED, SubmitOutcome, task_submit

log = logging.getLogger(__name__)

AUTH_REQUIRED = "ERROR : secure connection with an authenticated identity is required"
LEGACY_AUTH_REQUIRED = "secure connection with an authenticated identity is required"


def _decode(task_parameters) -> dict | None:
    if isinstance(task_parameters, (str, bytes)):
        try:
            task_parameters = json.loads(task_parameters)
        except ValueError:
            return None
    return task_parameters if isinstance(task_parameters, dict) else None


def _submit(call, task_parameters, parent_tid) -> SubmitOutcome:
    params = _decode(task_parameters)
    if params is None:
        return SubmitOutcome(REFUSED, "refused: the task parameters must be a JSON object")
    return task_submit(call.identity, params, parent_tid=parent_tid)


@v1_method("task", "submit", "POST", {"task_parameters": Param("any", required=True), "parent_tid": Param(int)})
def submit(call, task_parameters, parent_tid):
    if not call.identity.authenticated:
        return error_text(403, AUTH_REQUIRED)
    outcome = _submit(call, task_parameters, parent_tid)
    if outcome.success:
        return v1_ok(outcome.jeditaskid, outcome.message)
    return v1_fail(outcome.message, outcome.code)


def _pickled(value: tuple) -> HttpResponse:
    code, message = value
    # Protocol 0 is ASCII as long as the text is; old clients decode the body as text first.
    message = message.encode("ascii", "backslashreplace").decode("ascii")
    return HttpResponse(pickle.dumps((code, message), protocol=0), content_type="text/plain")


@legacy_method("insertTaskParams")
def insert_task_params(call):
    if not call.identity.authenticated:
        return _pickled((False, LEGACY_AUTH_REQUIRED))
    proper = as_bool(call.params.get("properErrorCode", False))
    raw_parent = call.params.get("parent_tid")
    parent_tid = None if is_null(raw_parent) else as_int(raw_parent)
    if not is_null(raw_parent) and parent_tid is None:
        return _pickled((REFUSED if proper else False, f"refused: parent_tid must be an integer, got {raw_parent!r}"))
    outcome = _submit(call, call.params.get("taskParams"), parent_tid)
    return _pickled((outcome.code if proper else outcome.success, outcome.message))
