"""Counting legacy x509 requests per DN (iam.md §7), so operators see who still has to move to tokens."""

from django.db import IntegrityError, transaction
from django.db.models import F

from apps.accounts.models import X509Usage
from apps.core.timeutil import utcnow

_DN_MAX = X509Usage._meta.get_field("dn").max_length


def x509_usage_count(*, dn: str) -> None:
    """Add one request to ``dn``'s counter; an UPDATE with F() so concurrent requests never lose a count."""
    dn = dn[:_DN_MAX]
    if X509Usage.objects.filter(dn=dn).update(count=F("count") + 1, last_seen=utcnow()):
        return
    try:
        with transaction.atomic():
            X509Usage.objects.create(dn=dn, count=1)
    except IntegrityError:
        # Another request created the row between our UPDATE and INSERT.
        X509Usage.objects.filter(dn=dn).update(count=F("count") + 1, last_seen=utcnow())
