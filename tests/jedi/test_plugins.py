import pytest

from apps.brokerage.services.job_brokerage import generic_job_brokerage, production_job_brokerage
from apps.brokerage.services.task_brokerage import nucleus_brokerage
from apps.jedi.plugins import plugin

GENERIC = "apps.brokerage.services.job_brokerage.generic_job_brokerage"
PRODUCTION = "apps.brokerage.services.job_brokerage.production_job_brokerage"
NUCLEUS = "apps.brokerage.services.task_brokerage.nucleus_brokerage"


def test_production_labels_of_any_vo_get_the_production_job_broker():
    assert plugin("job_broker", vo="atlas", label="managed") is production_job_brokerage
    assert plugin("job_broker", vo="sphenix", label="test") is production_job_brokerage


def test_other_labels_get_the_generic_job_broker():
    assert plugin("job_broker", vo="atlas", label="user") is generic_job_brokerage
    assert plugin("job_broker", vo="", label="") is generic_job_brokerage


def test_a_vo_entry_in_the_settings_beats_the_label_wildcard(settings):
    settings.PANDA_JEDI_PLUGINS = {"job_broker": {"lsst": GENERIC}}

    assert plugin("job_broker", vo="lsst", label="managed") is generic_job_brokerage
    assert plugin("job_broker", vo="atlas", label="managed") is production_job_brokerage


def test_a_vo_and_label_entry_beats_everything(settings):
    settings.PANDA_JEDI_PLUGINS = {"job_broker": {"atlas:user": PRODUCTION, "*:user": GENERIC}}

    assert plugin("job_broker", vo="atlas", label="user") is production_job_brokerage
    assert plugin("job_broker", vo="cms", label="user") is generic_job_brokerage


def test_the_task_broker_defaults_to_the_nucleus_brokerage_and_unknown_kinds_are_refused():
    assert plugin("task_broker", vo="atlas", label="managed") is nucleus_brokerage
    with pytest.raises(LookupError, match="no splitter plugin configured"):
        plugin("splitter", vo="atlas", label="managed")
