"""``GET /api/v1/system/whoami``: who the server thinks the caller is, and what it may do (iam.md §11).

``data`` holds the caller's identity — ``user``, ``compact_name``, ``dn``, ``method`` (``oidc``, ``x509``,
``session`` or ``none``), ``vo``, ``role``, ``groups``, ``fqans``, ``production``, ``pilot``, ``robot``,
``production_working_groups`` and ``expires`` (the token's expiry, ISO 8601 UTC, or null). No token or
claim is echoed. An anonymous caller is answered too: ``success`` true, ``authenticated`` false.

With ``action=<name>`` (an action of :data:`apps.accounts.permissions.ACTIONS`) the answer adds
``action``, ``allowed`` and ``reason``: :func:`~apps.accounts.permissions.explain` asked about the real
job (``pandaid``) or task (``jeditaskid``) the action is about, or with ``prodSourceLabel``, ``code``
and ``legacy`` where the action takes them.
"""

import datetime as dt

from apps.accounts.identity import Identity
from apps.accounts.permissions import ACTIONS, Action, Decision, UnknownAction, explain
from apps.dispatcher.encoding import v1_fail, v1_ok
from apps.dispatcher.registry import Param, v1_method
from apps.jedi.selectors.permissions import task_permission_facts
from apps.jobs.selectors.permissions import job_permission_facts
from apps.jobs.services.commands import job_debug_mode_explain

_INT64 = 2**63 - 1
# Query parameter -> the fact it gives, for the actions that are about neither a job nor a task.
_GIVEN_FACTS = {"prodSourceLabel": "prod_source_label", "legacy": "legacy"}


class _BadQuestion(ValueError):
    pass


def identity_summary(identity: Identity) -> dict:
    """What whoami shows of an identity (never a token or a claim)."""
    expires = None
    if identity.expires is not None:
        expires = dt.datetime.fromtimestamp(identity.expires, tz=dt.UTC).isoformat()
    return {
        "authenticated": identity.authenticated,
        "user": identity.username or None,
        "compact_name": identity.compact_name if identity.authenticated else None,
        "dn": identity.dn or None,
        "method": identity.method if identity.authenticated else "none",
        "vo": identity.vo or None,
        "role": identity.role or None,
        "groups": list(identity.groups),
        "fqans": list(identity.fqans),
        "production": identity.is_production,
        "pilot": identity.is_pilot,
        "robot": identity.is_robot,
        "production_working_groups": sorted(identity.production_working_groups),
        "expires": expires,
    }


def _known(number: int | None, name: str) -> int:
    if number is None:
        raise _BadQuestion(f"Argument error: this action needs {name}")
    if not 0 < number <= _INT64:
        raise _BadQuestion(f"{name}={number} not found")
    return number


def _parameters_taken(entry: Action) -> set[str]:
    if entry.subject == "task":
        return {"jeditaskid"}
    if entry.subject == "job":
        return {"pandaid", "code"} if "code" in entry.facts else {"pandaid"}
    return {param for param, fact in _GIVEN_FACTS.items() if fact in entry.facts}


def _task_decision(identity: Identity, action: str, task_id: int | None) -> Decision:
    task_id = _known(task_id, "jeditaskid")
    facts = task_permission_facts(task_id=task_id)
    if facts is None:
        raise _BadQuestion(f"jeditaskid={task_id} not found")
    return explain(identity, action, **facts)


def _job_decision(identity: Identity, entry: Action, pandaid: int | None, code: int | None) -> Decision:
    pandaid = _known(pandaid, "pandaid")
    if entry.name == "set_debug_mode":
        # The limit counts the caller's (or the working group's) active debug jobs: the service knows how.
        decision = job_debug_mode_explain(identity=identity, pandaid=pandaid)
    elif (facts := job_permission_facts(pandaid=pandaid)) is not None:
        facts = {name: value for name, value in facts.items() if name in entry.facts}
        if code is not None:
            facts["code"] = code
        decision = explain(identity, entry.name, **facts)
    else:
        decision = None
    if decision is None:
        raise _BadQuestion(f"pandaid={pandaid} not found")
    return decision


def _decide(identity: Identity, action: str, given: dict) -> Decision:
    entry = ACTIONS.get(action)
    if entry is None:
        raise UnknownAction(f"unknown action {action!r}; known actions: {', '.join(sorted(ACTIONS))}")
    takes = _parameters_taken(entry)
    unexpected = sorted(name for name, value in given.items() if value is not None and name not in takes)
    if unexpected:
        raise _BadQuestion(f"Argument error: action {action} takes no {', '.join(unexpected)}")
    if entry.subject == "task":
        return _task_decision(identity, action, given["jeditaskid"])
    if entry.subject == "job":
        return _job_decision(identity, entry, given["pandaid"], given["code"])
    facts = {_GIVEN_FACTS[name]: given[name] for name in takes if given[name] is not None}
    return explain(identity, action, **facts)


@v1_method(
    "system",
    "whoami",
    "GET",
    {
        "action": Param(str),
        "jeditaskid": Param(int),
        "pandaid": Param(int),
        "prodSourceLabel": Param(str),
        "code": Param(int),
        "legacy": Param(bool),
    },
)
def whoami(call, action, **given):
    identity = call.identity
    data = identity_summary(identity)
    if action:
        try:
            decision = _decide(identity, action, given)
        except UnknownAction as exc:
            return v1_fail(f"Argument error: {exc}")
        except _BadQuestion as exc:
            return v1_fail(str(exc))
        data.update(action=action, allowed=decision.allowed, reason=decision.reason)
    return v1_ok(data, f"authenticated as {identity.compact_name}" if identity.authenticated else "anonymous")
