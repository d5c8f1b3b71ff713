import stat
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.authentication import identity_for_token
from apps.accounts.models import ApiToken, User, hash_token
from tests.factories import UserFactory

PILOT_DN = "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=atlpilo1/CN=Robot: ATLAS Pilot1"


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


@pytest.mark.django_db
def test_it_creates_a_production_user_and_prints_a_token_that_authenticates_as_that_user():
    token, err = run("--username", "pilot", "--dn", PILOT_DN, "--fqan", "/atlas/Role=production")

    user = User.objects.get(username="pilot")
    assert (user.dn, user.fqans) == (PILOT_DN, ["/atlas/Role=production"])
    assert not user.has_usable_password()
    identity = identity_for_token(token)
    assert identity is not None
    assert identity.username == "pilot"
    assert identity.is_production
    assert "created user 'pilot'" in err


@pytest.mark.django_db
def test_only_the_hash_of_the_token_is_stored():
    token, _ = run("--username", "robot")

    stored = ApiToken.objects.get(user__username="robot")
    assert stored.key_hash == hash_token(token)
    assert not ApiToken.objects.filter(key_hash=token).exists()


@pytest.mark.django_db
def test_repeatable_fqans_are_all_kept_in_order_without_duplicates():
    run(
        "--username",
        "multi",
        "--fqan",
        "/atlas/Role=pilot",
        "--fqan",
        "/atlas/Role=production",
        "--fqan",
        "/atlas/Role=pilot",
    )

    assert User.objects.get(username="multi").fqans == ["/atlas/Role=pilot", "/atlas/Role=production"]


@pytest.mark.django_db
def test_an_existing_user_is_reused_and_both_of_its_tokens_stay_valid():
    user = UserFactory(username="alice", fqans=["/atlas/Role=pilot"])

    first, _ = run("--username", "alice")
    second, err = run("--username", "alice", "--name", "laptop")

    assert first != second
    assert User.objects.filter(username="alice").count() == 1
    assert ApiToken.objects.filter(user=user).count() == 2
    assert identity_for_token(first).user_id == user.pk
    assert identity_for_token(second).user_id == user.pk
    user.refresh_from_db()
    assert user.fqans == ["/atlas/Role=pilot"]
    assert "reused user 'alice'" in err


@pytest.mark.django_db
def test_dn_and_fqans_given_for_an_existing_user_replace_the_old_ones():
    user = UserFactory(username="bob", fqans=["/atlas/Role=pilot"])

    run("--username", "bob", "--dn", "/CN=Bob", "--fqan", "/atlas/Role=production")

    user.refresh_from_db()
    assert (user.dn, user.fqans) == ("/CN=Bob", ["/atlas/Role=production"])


@pytest.mark.django_db
def test_output_writes_the_token_to_a_private_file_and_not_to_stdout(tmp_path):
    target = tmp_path / "var" / "pilot.token"

    out, err = run("--username", "pilot", "--fqan", "/atlas/Role=production", "--output", str(target))

    assert out == ""
    token = target.read_text().strip()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert identity_for_token(token).username == "pilot"
    assert str(target) in err


@pytest.mark.django_db
def test_output_over_an_existing_world_readable_file_makes_it_private(tmp_path):
    target = tmp_path / "pilot.token"
    target.write_text("old-token\n")
    target.chmod(0o644)

    run("--username", "pilot", "--output", str(target))

    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text().startswith("pnd_")


@pytest.mark.django_db
def test_expires_days_sets_an_expiry_on_the_token():
    run("--username", "temp", "--expires-days", "7")

    assert ApiToken.objects.get(user__username="temp").expires is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--username", "x", "--fqan", "atlas/Role=production"], "must start with '/'"),
        (["--username", " "], "username must not be empty"),
        (["--username", "x", "--expires-days", "0"], "--expires-days must be positive"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_error_and_create_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)

    assert not User.objects.exists()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_a_directory_as_output_is_refused_and_creates_nothing(tmp_path):
    with pytest.raises(CommandError, match="is a directory"):
        run("--username", "x", "--output", str(tmp_path))

    assert not User.objects.exists()


@pytest.mark.django_db
def test_the_token_file_holds_exactly_the_token_so_panda_client_can_send_it_verbatim(tmp_path):
    target = tmp_path / "pilot.token"

    run("--username", "pilot", "--output", str(target))

    raw = target.read_bytes()
    assert raw.startswith(b"pnd_") and raw == raw.strip()
    assert identity_for_token(raw.decode()).username == "pilot"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
