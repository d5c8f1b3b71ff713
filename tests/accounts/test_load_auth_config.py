"""``manage.py load_auth_config FILE``: VO records from JSON, validated, idempotent, exportable."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import AuthConfig

pytestmark = pytest.mark.django_db

CMS = {
    "cms": {
        "client_id": "cms-client",
        "oidc_config_url": "https://cms-auth.test.invalid/.well-known/openid-configuration",
        "jwt_profile": "wlcg",
        "robot_ids": {"cms-pilot": ["pilot"]},
        "auto_roles": ["production"],
    },
    "cms.production": {
        "vo": "cms",
        "client_id": "cms-prod",
        "client_secret": None,
        "oidc_config_url": "https://cms-auth.test.invalid/.well-known/openid-configuration",
    },
}


def load(tmp_path, documents) -> str:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(documents))
    out = io.StringIO()
    call_command("load_auth_config", str(path), stdout=out)
    return out.getvalue().strip()


def test_records_are_created_and_loading_again_changes_nothing(tmp_path):
    assert load(tmp_path, CMS) == "created 2, updated 0, unchanged 0"
    assert load(tmp_path, CMS) == "created 0, updated 0, unchanged 2"

    cms = AuthConfig.objects.get(name="cms")
    assert (cms.vo, cms.jwt_profile, cms.robot_ids, cms.auto_roles) == (
        "cms",
        "wlcg",
        {"cms-pilot": ["pilot"]},
        ["production"],
    )
    assert AuthConfig.objects.get(name="cms.production").client_secret == ""


def test_a_changed_record_is_updated_and_others_are_kept(tmp_path):
    load(tmp_path, CMS)

    changed = {"cms": {**CMS["cms"], "client_id": "cms-client-2"}}
    assert load(tmp_path, changed) == "created 0, updated 1, unchanged 0"
    assert AuthConfig.objects.get(name="cms").client_id == "cms-client-2"
    assert AuthConfig.objects.filter(name__in=["atlas", "cms.production"]).count() == 2


@pytest.mark.parametrize(
    "documents, message",
    [
        ({"cms": {"oidc_config_url": "https://x.test.invalid/"}}, "cms: client_id is required"),
        ({"cms": {"client_id": "c"}}, "cms: oidc_config_url is required"),
        ({"cms": {**CMS["cms"], "oidc_config_url": "not a url"}}, "cms: oidc_config_url: Enter a valid URL."),
        ({"cms": {**CMS["cms"], "jwt_profile": "other"}}, "cms: jwt_profile must be 'wlcg' or empty"),
        ({"cms": {**CMS["cms"], "robot_ids": ["cms-pilot"]}}, "cms: robot_ids must be an object"),
        ({"cms": {**CMS["cms"], "auto_roles": "production"}}, "cms: auto_roles must be a list"),
        ({"cms": {**CMS["cms"], "colour": "blue"}}, "cms: unknown fields colour"),
        ({"cms": {**CMS["cms"], "vo": "atlas"}}, "cms: vo 'atlas' does not match the name"),
        ({"cms": {**CMS["cms"], "enabled": "yes"}}, "cms: enabled must be true or false"),
        ({"cms:production": CMS["cms"]}, "the name must be <vo> or <vo>.<role>"),
        ({"cms": "x"}, "cms: must be an object"),
        ([], "expected a non-empty JSON object"),
    ],
)
def test_a_bad_file_is_refused_and_changes_nothing(tmp_path, documents, message):
    good_and_bad = {"good": CMS["cms"], **documents} if isinstance(documents, dict) else documents

    with pytest.raises(CommandError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load(tmp_path, good_and_bad)
    assert list(AuthConfig.objects.values_list("name", flat=True)) == ["atlas"]


def test_a_missing_or_unreadable_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("load_auth_config", str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CommandError, match="is not valid JSON"):
        call_command("load_auth_config", str(tmp_path / "bad.json"))
    with pytest.raises(CommandError, match="FILE is required"):
        call_command("load_auth_config")


def test_export_writes_every_field_in_the_format_load_reads(tmp_path):
    load(tmp_path, CMS)
    exported = tmp_path / "export.json"
    call_command("load_auth_config", str(exported), export=True)
    AuthConfig.objects.all().delete()

    assert load(tmp_path, json.loads(exported.read_text())) == "created 3, updated 0, unchanged 0"
    assert AuthConfig.objects.get(name="atlas").robot_ids == {
        "panda-pilot": ["pilot"],
        "panda-harvester": ["production"],
    }
