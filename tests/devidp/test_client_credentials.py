from django.test import Client

from apps.devidp.keys import signing_key
from tests.devidp.conftest import ISSUER, basic_auth, claims_of, client_secret_of, header_of


def grant(client_id: str, secret: str | None = None, **data):
    payload = {"grant_type": "client_credentials", "client_id": client_id}
    if secret is not None:
        payload["client_secret"] = secret
    return Client().post("/idp/token", {**payload, **data})


def test_a_robot_gets_an_access_token_naming_itself(idp):
    answer = grant("panda-harvester", client_secret_of("panda-harvester"))

    assert answer.status_code == 200
    body = answer.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 4 * 24 * 3600)
    assert "refresh_token" not in body and "id_token" not in body
    claims = claims_of(body["access_token"])
    assert (claims["iss"], claims["sub"], claims["client_id"], claims["aud"]) == (
        ISSUER,
        "panda-harvester",
        "panda-harvester",
        "panda-harvester",
    )
    assert claims["exp"] - claims["iat"] == 4 * 24 * 3600
    assert header_of(body["access_token"]) == {"alg": "RS256", "kid": signing_key().kid, "typ": "JWT"}


def test_a_robot_may_authenticate_with_http_basic_and_ask_for_an_audience(idp):
    answer = Client().post(
        "/idp/token",
        {"grant_type": "client_credentials", "audience": "https://panda.example"},
        HTTP_AUTHORIZATION=basic_auth("panda-pilot", client_secret_of("panda-pilot")),
    )

    assert claims_of(answer.json()["access_token"])["aud"] == "https://panda.example"


def test_a_wrong_secret_or_a_non_robot_client_gets_no_token(idp):
    wrong = grant("panda-pilot", "guess")
    public = grant("panda-client")
    person_client = grant("panda-monitor", client_secret_of("panda-monitor"))
    malformed = Client().post("/idp/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION="Basic !!!")

    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert public.json() == {
        "error": "unauthorized_client",
        "error_description": "client panda-client may not use the client_credentials grant",
    }
    assert person_client.json()["error"] == "unauthorized_client"
    assert malformed.json() == {"error": "invalid_client", "error_description": "malformed Basic authorization header"}


def test_the_token_endpoint_answers_rfc_6749_errors_for_bad_requests(idp):
    unsupported = Client().post("/idp/token", {"grant_type": "password", "client_id": "panda-client"})
    missing = Client().post("/idp/token", {"client_id": "panda-client"})
    wrong_method = Client().get("/idp/token")

    assert (unsupported.status_code, unsupported.json()["error"]) == (400, "unsupported_grant_type")
    assert missing.json()["error"] == "unsupported_grant_type"
    assert wrong_method.status_code == 405
