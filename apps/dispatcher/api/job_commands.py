"""Debug mode and pilot commands (protocol.md §8.4, states.md §5).

Legacy ``setDebugMode`` answers plain text; v1 ``job/set_debug_mode`` (alias
``pilot/set_debug_mode``) and ``job/set_command`` answer ``success`` and ``message``.
"""

from apps.core.values import as_bool, is_null
from apps.dispatcher.encoding import error_text, legacy_text, v1_envelope
from apps.dispatcher.registry import ArgumentError, Param, cast, legacy_method, v1_method
from apps.jobs.services.commands import job_set_command, job_set_debug_mode

_INT64 = 2**63 - 1


def _checked_pandaid(pandaid: int, name: str) -> int:
    if not 0 < pandaid <= _INT64:
        raise ArgumentError(f"{name} must be a PandaID, got {pandaid}")
    return pandaid


@legacy_method("setDebugMode")
def set_debug_mode_legacy(call):
    params = call.params
    try:
        for name in ("pandaID", "modeOn"):
            if is_null(params.get(name)):
                raise ArgumentError(f"missing required argument {name}")
        try:
            pandaid = cast("pandaID", Param(int), params["pandaID"])
        except ArgumentError:
            raise ArgumentError(f"pandaID must be a PandaID, got {params['pandaID']!r}") from None
        _checked_pandaid(pandaid, "pandaID")
    except ArgumentError as exc:
        return error_text(400, f"ERROR : {exc}")
    result = job_set_debug_mode(identity=call.identity, pandaid=pandaid, on=as_bool(params["modeOn"]))
    return legacy_text(result.message)


_DEBUG_MODE_PARAMS = {"job_id": Param(int, required=True), "mode": Param(bool, required=True)}


@v1_method("job", "set_debug_mode", "POST", _DEBUG_MODE_PARAMS)
@v1_method("pilot", "set_debug_mode", "POST", _DEBUG_MODE_PARAMS)
def set_debug_mode(call, job_id, mode):
    try:
        _checked_pandaid(job_id, "job_id")
    except ArgumentError as exc:
        return v1_envelope(False, f"Argument error: {exc}")
    result = job_set_debug_mode(identity=call.identity, pandaid=job_id, on=mode)
    return v1_envelope(result.success, result.message)


@v1_method("job", "set_command", "POST", {"job_id": Param(int, required=True), "command": Param(str, required=True)})
def set_command(call, job_id, command):
    try:
        _checked_pandaid(job_id, "job_id")
    except ArgumentError as exc:
        return v1_envelope(False, f"Argument error: {exc}")
    result = job_set_command(identity=call.identity, pandaid=job_id, command=command)
    return v1_envelope(result.success, result.message)
