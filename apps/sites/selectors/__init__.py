from apps.sites.selectors.queues import forget_cached_queues, queue_get_cached

__all__ = ["forget_cached_queues", "queue_get_cached"]
