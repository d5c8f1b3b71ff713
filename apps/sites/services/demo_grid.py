"""A one-site grid for the quick start: two queues, one POSIX storage endpoint, the resource types and
a production robot (``demo-pilot``) whose token a local pilot can use.

The queues and the endpoint come from the CRIC-format files under ``apps/sites/demo/`` (they
double as examples of the format); ``${PANDA_VAR_DIR}`` in them is replaced by the server's
``VAR_DIR``. Running the load again changes nothing and keeps a still-valid token.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.accounts.models import ApiToken, User, hash_token
from apps.accounts.services.tokens import api_token_create, write_secret
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
TOKEN_NAME = "demo"


@dataclass
class DemoGrid:
    queues: LoadResult
    endpoints: LoadResult
    resource_types: LoadResult
    storage_dir: Path
    token_file: Path
    token_issued: bool


def _demo_json(path: Path, var_dir: Path):
    # Substituted in the text so that every nested occurrence gets the same, JSON-escaped value.
    text = path.read_text(encoding="utf-8").replace(VAR_PLACEHOLDER, json.dumps(str(var_dir))[1:-1])
    return json.loads(text)


def _token_still_valid(path: Path, user: User | None) -> bool:
    if user is None or not path.is_file():
        return False
    raw = path.read_text(encoding="utf-8").strip()
    valid = ApiToken.objects.filter(user=user, key_hash=hash_token(raw), revoked=False, expires=None)
    return bool(raw) and valid.exists()


def demo_pilot_token_ensure(*, token_file: Path) -> bool:
    """Make sure ``demo-pilot`` exists with the production role and ``token_file`` holds a valid token.

    Returns True when a new token was issued (older demo tokens are then revoked).
    """
    user = User.objects.filter(username=PILOT_USERNAME).first()
    if _token_still_valid(token_file, user):
        if user.dn != PILOT_DN or list(user.fqans or []) != PILOT_FQANS:
            user.dn, user.fqans = PILOT_DN, PILOT_FQANS
            user.save(update_fields=["dn", "fqans"])
        os.chmod(token_file, 0o600)
        return False
    with transaction.atomic():
        if user is not None:
            ApiToken.objects.filter(user=user, name=TOKEN_NAME).update(revoked=True)
        _, raw, _ = api_token_create(username=PILOT_USERNAME, dn=PILOT_DN, fqans=PILOT_FQANS, name=TOKEN_NAME)
        write_secret(token_file, raw + "\n")
    return True


def demo_grid_load(*, var_dir: Path | None = None) -> DemoGrid:
    var_dir = Path(var_dir or settings.VAR_DIR).resolve()
    storage_dir = var_dir / "demo-se"
    token_file = var_dir / "demo-pilot.token"
    with transaction.atomic():
        resource_types = resource_types_load()
        endpoints = storage_endpoints_load(documents=_demo_json(DEMO_ENDPOINTS_FILE, var_dir))
        queues = queues_load(documents=_demo_json(DEMO_QUEUES_FILE, var_dir))
        token_issued = demo_pilot_token_ensure(token_file=token_file)
    storage_dir.mkdir(parents=True, exist_ok=True)
    return DemoGrid(
        queues=queues,
        endpoints=endpoints,
        resource_types=resource_types,
        storage_dir=storage_dir,
        token_file=token_file,
        token_issued=token_issued,
    )
