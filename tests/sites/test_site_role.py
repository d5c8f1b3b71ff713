import pytest

from apps.sites.models import Site, SiteRole
from apps.sites.services.queues import queues_load
from tests.factories import queue_document

pytestmark = pytest.mark.django_db


def test_a_queue_document_with_a_role_marks_its_site_as_nucleus_or_satellite():
    queues_load(
        documents={
            "Q_N": queue_document("Q_N", "SITE_N", role="nucleus"),
            "Q_S": queue_document("Q_S", "SITE_S", role="satellite"),
            "Q_P": queue_document("Q_P", "SITE_P"),
        }
    )

    roles = dict(Site.objects.values_list("name", "role"))
    assert roles == {"SITE_N": SiteRole.NUCLEUS, "SITE_S": SiteRole.SATELLITE, "SITE_P": ""}


def test_an_unknown_role_leaves_the_site_role_alone():
    queues_load(documents={"Q_N": queue_document("Q_N", "SITE_N", role="nucleus")})
    queues_load(documents={"Q_N": queue_document("Q_N", "SITE_N", role="mothership")})

    assert Site.objects.get(name="SITE_N").role == SiteRole.NUCLEUS
