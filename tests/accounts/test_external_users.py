"""Provider accounts become local users, matched by issuer and subject, never by e-mail (iam.md §6)."""

import pytest

from apps.accounts.models import ExternalIdentity, User
from apps.accounts.services.external_users import user_for_claims
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ISS = "https://idp.example.org/"
CLAIMS = {"preferred_username": "jdoe", "name": "Jane Q Doe", "email": "jane@example.org"}


def test_the_first_use_creates_the_user_with_names_email_and_fqans():
    user = user_for_claims(issuer=ISS, subject="s-1", claims=CLAIMS, groups=["atlas", "atlas/production"])

    assert (user.username, user.first_name, user.last_name, user.email) == ("jdoe", "Jane", "Q Doe", "jane@example.org")
    assert user.fqans == ["/atlas", "/atlas/Role=production"] and not user.has_usable_password()
    link = ExternalIdentity.objects.get(user=user)
    assert (link.issuer, link.subject, link.groups) == ("https://idp.example.org", "s-1", ["atlas", "atlas/production"])


def test_the_same_account_is_the_same_user_and_its_groups_follow_the_provider():
    first = user_for_claims(issuer=ISS, subject="s-1", claims=CLAIMS, groups=["atlas", "atlas/production"])
    renamed = {**CLAIMS, "preferred_username": "jane", "name": "Jane Smith"}

    again = user_for_claims(issuer=ISS.rstrip("/"), subject="s-1", claims=renamed, groups=["atlas"])

    assert again.pk == first.pk and again.username == "jdoe"  # the username is kept
    assert (again.last_name, again.fqans) == ("Smith", ["/atlas"])
    assert ExternalIdentity.objects.get(user=again).groups == ["atlas"]


def test_the_same_email_at_another_subject_is_another_user():
    first = user_for_claims(issuer=ISS, subject="s-1", claims=CLAIMS, groups=[])

    other = user_for_claims(issuer=ISS, subject="s-2", claims=CLAIMS, groups=[])

    assert other.pk != first.pk and other.username == "jdoe-2"


def test_an_existing_local_user_is_never_taken_over_by_name_or_email():
    local = UserFactory(username="jdoe", email="jane@example.org")

    user = user_for_claims(issuer=ISS, subject="s-1", claims=CLAIMS, groups=[])

    assert user.pk != local.pk and user.username == "jdoe-2"


def test_without_preferred_username_the_subject_names_the_user():
    user = user_for_claims(issuer=ISS, subject="1234-abcd efg", claims={}, groups=[])

    assert user.username == "1234-abcd_efg" and (user.first_name, user.last_name) == ("", "")


def test_issuer_and_subject_are_required():
    with pytest.raises(ValueError, match="issuer and subject are required"):
        user_for_claims(issuer=ISS, subject="", claims=CLAIMS, groups=[])
    assert not User.objects.exists()
