import pytest

from apps.shares.models import GlobalShare
from apps.shares.services.matching import share_for
from apps.shares.services.tree import UNDEFINED_SHARE, ensure_default_shares

pytestmark = pytest.mark.django_db


def test_without_a_tree_every_task_is_undefined():
    assert share_for(prodsourcelabel="managed") == UNDEFINED_SHARE


def test_default_tree_puts_production_tasks_in_mc_and_express_tasks_in_express():
    ensure_default_shares()
    assert share_for(prodsourcelabel="managed", processingtype="simul") == "MC"
    assert share_for(prodsourcelabel="managed", processingtype="express") == "Express"


def test_default_tree_separates_group_from_user_analysis():
    ensure_default_shares()
    assert share_for(prodsourcelabel="user") == "User Analysis"
    assert share_for(prodsourcelabel="panda", workinggroup="AP_Higgs") == "Group Analysis"


def test_test_labels_go_to_the_test_share():
    ensure_default_shares()
    assert share_for(prodsourcelabel="prod_test") == "Test"
    assert share_for(prodsourcelabel="rc_alrb") == "Test"


def test_a_label_no_share_covers_is_undefined():
    ensure_default_shares()
    assert share_for(prodsourcelabel="ddm") == UNDEFINED_SHARE


def test_patterns_must_match_the_whole_value():
    GlobalShare.objects.create(name="Managed", value=100, prodsourcelabel="managed")
    assert share_for(prodsourcelabel="managed_extra") == UNDEFINED_SHARE


def test_the_first_match_in_tree_order_wins():
    root = GlobalShare.objects.create(name="Root", value=100)
    GlobalShare.objects.create(name="Zeta", parent=root, value=50, rank=0, campaign="MC23.*")
    GlobalShare.objects.create(name="Alpha", parent=root, value=50, rank=1)
    assert share_for(prodsourcelabel="managed", campaign="MC23c") == "Zeta"
    assert share_for(prodsourcelabel="managed", campaign="MC21") == "Alpha"


def test_siblings_of_equal_rank_are_tried_by_name():
    GlobalShare.objects.create(name="Bravo", value=50)
    GlobalShare.objects.create(name="Alpha", value=50)
    assert share_for(prodsourcelabel="managed") == "Alpha"


def test_an_ancestor_pattern_constrains_its_leaves():
    atlas = GlobalShare.objects.create(name="ATLAS", value=50, vo="atlas")
    GlobalShare.objects.create(name="Everything", parent=atlas, value=100)
    assert share_for(prodsourcelabel="managed", vo="atlas") == "Everything"
    assert share_for(prodsourcelabel="managed", vo="cms") == UNDEFINED_SHARE


def test_a_pattern_on_a_missing_value_only_matches_if_it_accepts_empty():
    GlobalShare.objects.create(name="Grouped", value=50, rank=0, workinggroup=".+")
    GlobalShare.objects.create(name="Optional", value=50, rank=1, workinggroup="(GP_.*)?")
    assert share_for(prodsourcelabel="user", workinggroup=None) == "Optional"
    assert share_for(prodsourcelabel="user", workinggroup="GP_Top") == "Grouped"


def test_inner_nodes_are_never_returned():
    parent = GlobalShare.objects.create(name="Parent", value=100, prodsourcelabel="managed")
    GlobalShare.objects.create(name="Child", parent=parent, value=100, processingtype="reprocessing")
    assert share_for(prodsourcelabel="managed", processingtype="simul") == UNDEFINED_SHARE
