"""Sites and queues' filter registry (monitor.md §1 Sites, §5): PanDA queue columns and their site's.

Keys: every PandaQueue column (``name``, ``status``, ``cloud``, ``type``, ``harvester``, ...), ``site``
(the site's name; ``gocname`` is its legacy name), ``tier``, ``country`` and ``copytool`` (the
queue's first stage-in copytool, ``acopytools["pr"][0]`` of its document). No time window.
"""

from __future__ import annotations

from apps.monitor.filters.registry import TEXT_OPERATORS, FilterField, Registry, SortOption, model_fields
from apps.sites.models import PandaQueue

SITE_FACETS = ("cloud", "status", "type", "harvester", "workflow")
SITE_FIELDS = {
    **model_fields(PandaQueue, facets=SITE_FACETS, exclude=("last_modified",)),
    "site": FilterField("site", "site__name", "str", TEXT_OPERATORS, facet=False),
    "gocname": FilterField("gocname", "site__name", "str", TEXT_OPERATORS, facet=True),
    "tier": FilterField("tier", "site__tier", "str", TEXT_OPERATORS, facet=True),
    "country": FilterField("country", "site__country", "str", TEXT_OPERATORS, facet=True),
    "copytool": FilterField("copytool", "acopytools__pr__0", "str", TEXT_OPERATORS, facet=True),
}

SITE_FILTERS = Registry(
    name="sites",
    model=PandaQueue,
    fields=SITE_FIELDS,
    window_field=None,
    default_hours=None,
    default_limit=10_000,
    default_display_limit=1_000,
    sort_options={option.name: option for option in (SortOption("name", ("name",)),)},
    default_sort="name-ascending",
)
