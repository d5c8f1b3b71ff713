"""Bearer tokens at the wire APIs (403 ``ERROR : Token authentication failed. ...``), banned users,
plain Django views (:func:`identity_from_request`) and the 401 answer of non-wire APIs (iam.md §3)."""

import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.accounts.authentication import identity_from_request, token_refused_response
from apps.accounts.identity import ANONYMOUS
from apps.accounts.oidc.validator import TokenRejected
from tests.factories import UserFactory, auth_header, production_user, robot_auth_header, token_for
from tests.oidc_issuer import ISSUER

pytestmark = pytest.mark.django_db

GETJOB = "/server/panda/getJob"
ACQUIRE = "/api/v1/pilot/acquire_jobs"


def expired_token() -> str:
    return token_for(production_user(), expires_in=-3600)


@pytest.mark.parametrize("url", [GETJOB, ACQUIRE])
@pytest.mark.parametrize(
    "authorization, origin, reason",
    [
        (lambda: f"Bearer {expired_token()}", "atlas", "token expired"),
        (lambda: "Bearer not-a-jwt", "atlas", "malformed token"),
        (lambda: "Bearer", "atlas", "malformed Authorization header"),
        (
            lambda: f"Bearer {token_for(UserFactory())}",
            "atlas.production",
            "Not a member of the atlas/production group",
        ),
    ],
    ids=["expired", "garbage", "no token", "role not granted"],
)
def test_the_pilot_apis_answer_a_bad_token_with_403_and_the_reason(url, authorization, origin, reason):
    response = Client().post(
        url, {"siteName": "Q", "site_name": "Q"}, HTTP_AUTHORIZATION=authorization(), HTTP_ORIGIN=origin
    )

    assert response.status_code == 403 and response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == f"ERROR : Token authentication failed. {reason}"


def test_a_valid_production_token_reaches_getjob():
    response = Client().post(GETJOB, {"siteName": "NO_SUCH_QUEUE"}, **auth_header(production_user()))

    assert response.status_code == 200 and b"StatusCode=" in response.content


def test_a_pilot_robot_reaches_the_legacy_getjob_with_its_role():
    response = Client().post(GETJOB, {"siteName": "NO_SUCH_QUEUE"}, **robot_auth_header())

    assert response.status_code == 200 and response.content != b"StatusCode=60"


def test_a_banned_user_gets_403_on_every_api_call(settings):
    user = UserFactory(first_name="Bad", last_name="Actor")
    settings.PANDA_BANNED_USERS = ["Bad Actor"]

    for url in (GETJOB, ACQUIRE, "/api/v1/system/whoami"):
        response = Client().post(url, {"siteName": "Q"}, **auth_header(user))
        assert (response.status_code, response.content) == (403, b"ERROR : Bad Actor is banned")


def test_other_authorization_schemes_are_anonymous():
    response = Client().get("/api/v1/system/whoami", HTTP_AUTHORIZATION="Basic dXNlcjpwdw==")

    assert json.loads(response.content)["data"]["authenticated"] is False


def plain_request(**headers):
    request = RequestFactory().get("/jobs/", **headers)
    request.user = AnonymousUser()
    return request


def test_a_plain_view_sees_the_bearer_identity_first():
    user = UserFactory()

    identity = identity_from_request(plain_request(**auth_header(user)))

    assert (identity.method, identity.username) == ("oidc", user.username)


def test_a_plain_view_sees_the_session_user_without_a_token():
    user = production_user()
    request = plain_request()
    request.user = user

    identity = identity_from_request(request)

    assert (identity.method, identity.user_id, identity.is_production) == ("session", user.pk, True)


def test_a_plain_view_without_credentials_sees_the_anonymous_identity():
    assert identity_from_request(plain_request()) is ANONYMOUS


def test_a_plain_view_gets_the_refusal_of_a_bad_token():
    with pytest.raises(TokenRejected, match="token expired"):
        identity_from_request(plain_request(HTTP_AUTHORIZATION=f"Bearer {expired_token()}"))


def test_a_plain_view_refuses_a_banned_user(settings):
    user = UserFactory(first_name="Bad", last_name="Actor")
    settings.PANDA_BANNED_USERS = ["Bad Actor"]

    with pytest.raises(PermissionDenied):
        identity_from_request(plain_request(**auth_header(user)))


def test_the_refusal_answer_of_monitor_apis_is_401_with_a_bearer_challenge():
    response = token_refused_response(TokenRejected("token expired"))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="panda", error="invalid_token"'
    assert json.loads(response.content) == {"detail": "Token authentication failed. token expired"}


class Echo(APIView):
    def get(self, request):
        return Response({"user": request.user.username if request.user else None})


def test_a_drf_api_outside_the_wire_protocol_answers_401_with_the_bearer_challenge():
    request = APIRequestFactory().get("/x", HTTP_AUTHORIZATION="Bearer " + ISSUER.sign({"sub": "x"}))

    response = Echo.as_view()(request)

    assert response.status_code == 401 and response["WWW-Authenticate"] == 'Bearer realm="panda"'


def test_a_drf_api_outside_the_wire_protocol_sees_the_token_identity():
    user = UserFactory()
    response = Echo.as_view()(APIRequestFactory().get("/x", **auth_header(user)))

    assert response.data == {"user": user.username}
