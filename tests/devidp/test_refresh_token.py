import datetime as dt

import pytest
from django.test import Client

from apps.core.timeutil import utcnow
from apps.devidp.models import RefreshToken
from tests.devidp.conftest import allow_next_poll, claims_of, client_secret_of, decide, poll, start


def refresh(token: str, **data):
    payload = {"grant_type": "refresh_token", "refresh_token": token, "client_id": "panda-monitor",
               "client_secret": client_secret_of("panda-monitor")}  # fmt: skip
    payload.update(data)
    return Client().post("/idp/token", {k: v for k, v in payload.items() if v is not None})


def test_a_refresh_token_gives_new_tokens_and_a_new_refresh_token(flow):
    first = flow.redeem(flow.code("bob")).json()

    answer = refresh(first["refresh_token"])

    assert answer.status_code == 200
    body = answer.json()
    assert claims_of(body["id_token"])["preferred_username"] == "bob"
    assert body["refresh_token"] != first["refresh_token"]
    assert refresh(first["refresh_token"]).json()["error"] == "invalid_grant"  # rotated: used once
    assert refresh(body["refresh_token"]).status_code == 200


def test_a_refresh_may_narrow_but_not_widen_the_scope(flow):
    token = flow.redeem(flow.code()).json()["refresh_token"]

    wider = refresh(token, scope="openid profile email offline_access")
    narrower = refresh(token, scope="openid")

    assert wider.json() == {"error": "invalid_scope", "error_description": "a refresh cannot widen the scope"}
    assert narrower.json()["scope"] == "openid"


def test_an_expired_or_foreign_refresh_token_is_refused(flow):
    token = flow.redeem(flow.code()).json()["refresh_token"]

    other_client = Client().post(
        "/idp/token", {"grant_type": "refresh_token", "refresh_token": token, "client_id": "panda-client"}
    )
    RefreshToken.objects.update(expires=utcnow() - dt.timedelta(seconds=1))
    expired = refresh(token)

    assert other_client.json() == {"error": "invalid_grant", "error_description": "unknown refresh token"}
    assert expired.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("secret", ["", "None"])
def test_panda_client_refreshes_as_a_public_client_whatever_secret_it_sends(idp, secret):
    # panda-client sends its auth config's client_secret, null for a public client, i.e. "None".
    started = start().json()
    decide(Client(), started["user_code"], username="alice")
    allow_next_poll()
    token = poll(started["device_code"]).json()["refresh_token"]

    answer = Client().post(
        "/idp/token",
        {"grant_type": "refresh_token", "refresh_token": token, "client_id": "panda-client", "client_secret": secret},
    )

    assert answer.status_code == 200
    assert claims_of(answer.json()["id_token"])["aud"] == "panda-client"
