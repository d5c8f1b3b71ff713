"""Per-process cache of PanDA queue records for the dispatcher's hot path.

getJob needs the queue's status (test-label rewrite), catchall flags and storage mapping on every
call; the record changes only when the configurator reloads documents, so a short TTL
(``PANDA_CONFIG_CACHE_SECONDS``) saves one query per pilot request. Unknown names are cached as
``None`` too, so a pilot asking for a queue that does not exist costs no repeated lookups.
Callers must treat the returned instance as read-only: it is shared between requests.
"""

import threading
import time

from django.conf import settings

from apps.sites.models import PandaQueue

_cache: dict[str, tuple[float, PandaQueue | None]] = {}
_CACHE_MAX = 10_000
_lock = threading.Lock()


def queue_get_cached(name: str) -> PandaQueue | None:
    now = time.monotonic()
    cached = _cache.get(name)
    if cached and cached[0] > now:
        return cached[1]
    queue = PandaQueue.objects.filter(name=name).first()
    with _lock:
        if len(_cache) > _CACHE_MAX:
            _cache.clear()
        _cache[name] = (now + settings.PANDA_CONFIG_CACHE_SECONDS, queue)
    return queue


def forget_cached_queues() -> None:
    with _lock:
        _cache.clear()
