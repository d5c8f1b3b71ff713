"""Resource types (legacy ``getResourceTypes``, v1 ``metaconfig/get_resource_types``; protocol.md §8.5)
and v1 ``metaconfig/get_site_specs`` (§10.2), all for authenticated callers.
"""

import logging

from django.db import DatabaseError

from apps.accounts.permissions import may_read_metaconfig
from apps.dispatcher.encoding import error_text, legacy_dict, v1_fail, v1_ok
from apps.dispatcher.registry import Param, legacy_method, v1_method
from apps.sites.selectors.documents import queues_document_by_type
from apps.sites.selectors.resource_types import resource_types_list

log = logging.getLogger(__name__)

SC_SUCCESS, SC_FAILED = 0, 30
AUTH_REQUIRED = "ERROR : secure connection with an authenticated identity is required"
MESSAGE_DATABASE = "database error in the PanDA server"


@legacy_method("getResourceTypes")
def get_resource_types_legacy(call):
    if not may_read_metaconfig(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        resource_types = resource_types_list()
    except DatabaseError:
        log.exception("getResourceTypes failed")
        return legacy_dict(call.request, {"StatusCode": SC_FAILED, "errorDialog": MESSAGE_DATABASE})
    return legacy_dict(call.request, {"StatusCode": SC_SUCCESS, "Returns": 0, "ResourceTypes": resource_types})


@v1_method("metaconfig", "get_resource_types", "GET")
def get_resource_types(call):
    if not may_read_metaconfig(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        return v1_ok(resource_types_list())
    except DatabaseError:
        log.exception("metaconfig/get_resource_types failed")
        return v1_fail(MESSAGE_DATABASE)


@v1_method("metaconfig", "get_site_specs", "GET", {"type": Param(str, default="analysis")})
def get_site_specs(call, type):
    """Queue descriptions of one queue ``type`` (``analysis``, ``production``, ``unified``) or ``all``."""
    if not may_read_metaconfig(call.identity):
        return error_text(403, AUTH_REQUIRED)
    try:
        return v1_ok(queues_document_by_type(type or "analysis"))
    except DatabaseError:
        log.exception("metaconfig/get_site_specs failed")
        return v1_fail(MESSAGE_DATABASE)
