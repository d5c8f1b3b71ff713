"""A one-site grid for the quick start: two queues, one POSIX storage endpoint, the resource types and
the production user ``demo-pilot`` that owns the demo tasks.

The queues and the endpoint come from the CRIC-format files under ``apps/sites/demo/`` (they
double as examples of the format); ``${PANDA_VAR_DIR}`` in them is replaced by the server's
``VAR_DIR``. Running the load again changes nothing.

No credential is made here: Harvester and its pilots authenticate with OIDC tokens of an identity
provider (the quick start's is the development provider, ``manage.py devidp_setup``).
"""

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.accounts.models import User
from apps.sites.services.queues import LoadResult, queues_load
from apps.sites.services.resource_types import resource_types_load
from apps.sites.services.storage_endpoints import storage_endpoints_load

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
DEMO_QUEUES_FILE = DEMO_DIR / "queues.json"
DEMO_ENDPOINTS_FILE = DEMO_DIR / "ddmendpoints.json"
VAR_PLACEHOLDER = "${PANDA_VAR_DIR}"
PILOT_USERNAME = "demo-pilot"
PILOT_DN = "/DC=org/DC=panda/OU=Robots/CN=demo-pilot"
PILOT_FQANS = ["/atlas/Role=production"]


@dataclass
class DemoGrid:
    queues: LoadResult
    endpoints: LoadResult
    resource_types: LoadResult
    storage_dir: Path
    user: User


def _demo_json(path: Path, var_dir: Path):
    # Substituted in the text so that every nested occurrence gets the same, JSON-escaped value.
    text = path.read_text(encoding="utf-8").replace(VAR_PLACEHOLDER, json.dumps(str(var_dir))[1:-1])
    return json.loads(text)


def demo_user_ensure() -> User:
    """The production user the demo tasks are submitted as (``manage.py demo_tasks``); it never logs in."""
    user, created = User.objects.get_or_create(username=PILOT_USERNAME, defaults={"dn": PILOT_DN, "fqans": PILOT_FQANS})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    elif user.dn != PILOT_DN or list(user.fqans or []) != PILOT_FQANS:
        user.dn, user.fqans = PILOT_DN, PILOT_FQANS
        user.save(update_fields=["dn", "fqans"])
    return user


def demo_grid_load(*, var_dir: Path | None = None) -> DemoGrid:
    var_dir = Path(var_dir or settings.VAR_DIR).resolve()
    storage_dir = var_dir / "demo-se"
    with transaction.atomic():
        resource_types = resource_types_load()
        endpoints = storage_endpoints_load(documents=_demo_json(DEMO_ENDPOINTS_FILE, var_dir))
        queues = queues_load(documents=_demo_json(DEMO_QUEUES_FILE, var_dir))
        user = demo_user_ensure()
    storage_dir.mkdir(parents=True, exist_ok=True)
    return DemoGrid(
        queues=queues,
        endpoints=endpoints,
        resource_types=resource_types,
        storage_dir=storage_dir,
        user=user,
    )
