import datetime as dt

import pytest
from django.test import Client

from apps.core.timeutil import utcnow
from apps.devidp.models import DeviceCode
from tests.devidp.conftest import DEVICE_GRANT, ISSUER, allow_next_poll, claims_of, csrf_of, decide, poll, start


@pytest.fixture
def started(idp):
    answer = start()
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_a_device_authorization_gives_the_codes_and_where_to_enter_them(started):
    assert set(started) == {"device_code", "user_code", "verification_uri", "verification_uri_complete",
                            "expires_in", "interval"}  # fmt: skip
    assert started["verification_uri"] == f"{ISSUER}/device"
    assert started["verification_uri_complete"] == f"{ISSUER}/device?user_code={started['user_code']}"
    assert (started["expires_in"], started["interval"]) == (600, 5)
    grant = DeviceCode.objects.get()
    assert (grant.status, grant.scope, grant.user_code) == ("pending", "openid profile email offline_access",
                                                            started["user_code"])  # fmt: skip
    assert started["device_code"] not in grant.device_code_hash


def test_the_device_authorization_refuses_bad_clients_and_scopes(idp):
    assert start(client_id="nobody").json()["error"] == "invalid_client"
    assert start(client_id="panda-harvester").json()["error"] == "invalid_client"  # confidential, no secret
    assert start(scope="openid everything").json() == {
        "error": "invalid_scope",
        "error_description": "unsupported scope(s): everything",
    }
    assert not DeviceCode.objects.exists()


def test_polling_before_approval_is_pending(started):
    answer = poll(started["device_code"])

    assert answer.status_code == 400
    assert answer.json()["error"] == "authorization_pending"


def test_polling_faster_than_the_interval_is_told_to_slow_down_and_the_interval_grows(started):
    poll(started["device_code"])

    answer = poll(started["device_code"])

    assert answer.json()["error"] == "slow_down"
    assert DeviceCode.objects.get().interval == 10


def test_an_approved_device_gets_the_tokens_once(started, browser):
    poll(started["device_code"])
    done = decide(browser, started["user_code"], username="prodmgr")
    assert "now logged in as prodmgr" in done.content.decode()
    allow_next_poll()

    answer = poll(started["device_code"])

    assert answer.status_code == 200
    body = answer.json()
    claims = claims_of(body["id_token"])
    assert (claims["aud"], claims["preferred_username"], claims["groups"]) == (
        "panda-client",
        "prodmgr",
        ["atlas", "atlas/production"],
    )
    assert body["refresh_token"]
    allow_next_poll()
    assert poll(started["device_code"]).json()["error"] == "invalid_grant"


def test_a_denied_device_gets_access_denied(started, browser):
    done = decide(browser, started["user_code"], action="deny")
    assert "Denied" in done.content.decode()

    assert poll(started["device_code"]).json()["error"] == "access_denied"
    assert DeviceCode.objects.get().account is None


def test_an_expired_device_code_is_expired_token(started, browser):
    DeviceCode.objects.update(expires=utcnow() - dt.timedelta(seconds=1))

    assert poll(started["device_code"]).json()["error"] == "expired_token"
    page = browser.get("/idp/device", {"user_code": started["user_code"]})
    assert page.status_code == 400
    assert "this code has expired" in page.content.decode()


def test_the_device_code_belongs_to_its_client(started):
    answer = Client().post(
        "/idp/token",
        {"grant_type": DEVICE_GRANT, "client_id": "panda-monitor", "client_secret": "x",
         "device_code": started["device_code"]},
    )  # fmt: skip
    unknown = poll("not-a-device-code")

    assert answer.json()["error"] == "invalid_client"
    assert unknown.json()["error"] == "invalid_grant"


def test_the_device_page_asks_for_the_code_and_accepts_it_in_any_case_and_spacing(started, browser):
    empty = browser.get("/idp/device")
    assert 'name="user_code"' in empty.content.decode()

    page = browser.get("/idp/device", {"user_code": started["user_code"].replace("-", " ").lower()})

    assert page.status_code == 200
    assert started["user_code"] in page.content.decode()
    assert "panda-client" in page.content.decode()


def test_an_unknown_or_used_code_on_the_device_page_is_a_clear_error(started, browser):
    unknown = browser.get("/idp/device", {"user_code": "BBBB-CCCC"})
    assert unknown.status_code == 400
    assert "unknown code" in unknown.content.decode()

    decide(browser, started["user_code"])
    again = browser.get("/idp/device", {"user_code": started["user_code"]})
    assert again.status_code == 400
    assert "already used" in again.content.decode()


def test_approving_needs_an_account_and_a_csrf_token(started, browser):
    page = browser.get("/idp/device", {"user_code": started["user_code"]})
    no_account = browser.post(
        "/idp/device", {"user_code": started["user_code"], "action": "approve", "csrfmiddlewaretoken": csrf_of(page)}
    )
    forged = Client(enforce_csrf_checks=True).post(
        "/idp/device", {"user_code": started["user_code"], "action": "approve", "username": "alice"}
    )

    assert no_account.status_code == 400
    assert "choose the account" in no_account.content.decode()
    assert forged.status_code == 403
    assert DeviceCode.objects.get().status == "pending"
