import json

import pytest
from django.core.management import CommandError, call_command

from apps.shares.admin import GlobalShareForm
from apps.shares.models import GlobalShare
from apps.shares.services.tree import (
    DEFAULT_SHARES,
    ShareTreeError,
    ensure_default_shares,
    leaf_targets,
    share_leaves,
    shares_load,
    validate_tree,
)

pytestmark = pytest.mark.django_db


def test_the_default_tree_is_installed_once():
    assert ensure_default_shares()
    assert not ensure_default_shares()
    assert GlobalShare.objects.count() == len(DEFAULT_SHARES)


def test_the_default_tree_leaves_come_in_tree_order_with_test_first():
    ensure_default_shares()
    assert [leaf.name for leaf in share_leaves()] == ["Test", "Express", "MC", "Group Analysis", "User Analysis"]


def test_a_leaf_target_is_the_product_of_the_percents_along_its_path():
    ensure_default_shares()
    targets = leaf_targets()
    assert targets["MC"] == pytest.approx(0.8 * 0.9)
    assert targets["Express"] == pytest.approx(0.8 * 0.1)
    assert targets["User Analysis"] == pytest.approx(0.2 * 0.8)
    assert targets["Test"] == 0.0
    assert sum(targets.values()) == pytest.approx(1.0)


def test_an_empty_tree_has_no_leaves():
    assert share_leaves() == []


def test_siblings_summing_over_100_percent_are_refused_and_nothing_is_saved():
    with pytest.raises(ShareTreeError, match="sum to 110"):
        shares_load([{"name": "A", "value": 60.0}, {"name": "B", "value": 50.0}])
    assert not GlobalShare.objects.exists()


def test_a_cycle_is_refused():
    with pytest.raises(ShareTreeError, match="cycle"):
        shares_load([{"name": "A", "parent": "B", "value": 10.0}, {"name": "B", "parent": "A", "value": 10.0}])
    assert not GlobalShare.objects.exists()


def test_an_unknown_parent_is_refused():
    with pytest.raises(ShareTreeError, match="unknown parent Nowhere"):
        shares_load([{"name": "A", "parent": "Nowhere", "value": 10.0}])


def test_a_bad_regular_expression_is_refused():
    with pytest.raises(ShareTreeError, match="not a regular expression"):
        shares_load([{"name": "A", "value": 10.0, "campaign": "MC23("}])


@pytest.mark.parametrize(
    "item, message",
    [
        ({"name": "A", "value": "ten"}, "wrong type"),
        ({"name": "A", "value": 10.0, "throttled": "yes"}, "wrong type"),
        ({"name": "A", "value": 10.0, "rank": True}, "wrong type"),
        ({"name": "A", "value": None}, "cannot be null"),
        ({"name": "A", "value": 10.0, "colour": "red"}, "unknown keys colour"),
        ({"value": 10.0}, "non-empty 'name'"),
        ({"name": "A", "value": 101.0}, "percentage"),
        ({"name": "A", "value": 10.0, "queue_cap": -1}, "must not be negative"),
        ({"name": "A" * 33, "value": 10.0}, "longer than 32"),
    ],
)
def test_malformed_definitions_are_refused(item, message):
    with pytest.raises(ShareTreeError, match=message):
        shares_load([item])
    assert not GlobalShare.objects.exists()


def test_a_share_defined_twice_is_refused():
    with pytest.raises(ShareTreeError, match="defined twice"):
        shares_load([{"name": "A", "value": 10.0}, {"name": "A", "value": 20.0}])


def test_replace_refuses_a_parent_it_would_delete():
    shares_load([{"name": "P", "value": 50.0}])
    with pytest.raises(ShareTreeError, match="unknown parent P"):
        shares_load([{"name": "C", "parent": "P", "value": 10.0}], replace=True)
    assert list(GlobalShare.objects.values_list("name", flat=True)) == ["P"]


def test_loading_again_updates_shares_by_name_and_replace_removes_the_others():
    ensure_default_shares()
    shares_load([{"name": "MC", "parent": "Production", "value": 50.0, "queue_cap": 100}])
    mc = GlobalShare.objects.get(name="MC")
    assert (mc.value, mc.queue_cap, mc.parent.name) == (50.0, 100, "Production")
    shares_load([{"name": "Only", "value": 100.0}], replace=True)
    assert list(GlobalShare.objects.values_list("name", flat=True)) == ["Only"]


def test_validate_tree_accepts_the_default_tree():
    ensure_default_shares()
    validate_tree(list(GlobalShare.objects.all()))


def test_the_command_loads_a_json_file(tmp_path):
    path = tmp_path / "shares.json"
    path.write_text(json.dumps([{"name": "Prod", "value": 70.0}, {"name": "Anal", "value": 30.0}]))
    call_command("load_global_shares", str(path))
    assert set(GlobalShare.objects.values_list("name", flat=True)) == {"Prod", "Anal"}


def test_the_command_without_a_file_loads_the_default_tree():
    call_command("load_global_shares")
    assert GlobalShare.objects.count() == len(DEFAULT_SHARES)


def test_the_command_reports_a_bad_tree_and_saves_nothing(tmp_path):
    path = tmp_path / "shares.json"
    path.write_text(json.dumps([{"name": "A", "value": 80.0}, {"name": "B", "value": 80.0}]))
    with pytest.raises(CommandError, match="sum to 160"):
        call_command("load_global_shares", str(path))
    assert not GlobalShare.objects.exists()


def test_the_command_reports_unreadable_json(tmp_path):
    path = tmp_path / "shares.json"
    path.write_text("{not json")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("load_global_shares", str(path))


def form_data(**fields) -> dict:
    data = {"name": "New", "value": 10.0, "rank": 0, "throttled": True}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def test_the_admin_refuses_a_share_that_overfills_its_parent():
    ensure_default_shares()
    production = GlobalShare.objects.get(name="Production")
    form = GlobalShareForm(data=form_data(parent=production.pk, value=5.0))
    assert not form.is_valid()
    assert "children of Production sum to 105" in str(form.errors)


def test_the_admin_refuses_making_a_share_its_own_ancestor():
    ensure_default_shares()
    production = GlobalShare.objects.get(name="Production")
    mc = GlobalShare.objects.get(name="MC")
    form = GlobalShareForm(data=form_data(name="Production", value=80.0, parent=mc.pk), instance=production)
    assert not form.is_valid()
    assert "cycle" in str(form.errors)


def test_the_admin_accepts_a_valid_change():
    ensure_default_shares()
    mc = GlobalShare.objects.get(name="MC")
    production = GlobalShare.objects.get(name="Production")
    form = GlobalShareForm(data=form_data(name="MC", value=85.0, parent=production.pk, rank=1), instance=mc)
    assert form.is_valid(), form.errors
    form.save()
    assert GlobalShare.objects.get(name="MC").value == 85.0


def test_the_admin_lists_the_shares(admin_client):
    ensure_default_shares()
    response = admin_client.get("/admin/shares/globalshare/")
    assert response.status_code == 200
    assert b"User Analysis" in response.content
