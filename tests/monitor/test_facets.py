"""Attribute-summary facets: counts per value computed in the database, buckets, order and legacy shape."""

import pytest
from django.db.models import F, Value
from django.db.models.functions import Floor

from apps.jobs.models import Job
from apps.monitor.selectors.facets import Facet, facet_counts, filter_value, legacy_summary
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_values_are_counted_per_field_and_sorted_with_empty_values_last():
    JobFactory.create_batch(2, computingsite="B")
    JobFactory(computingsite="A")
    JobFactory(computingsite=None)
    counts = facet_counts(Job.objects.all(), ["computingsite"])
    assert counts == {"computingsite": [("A", 1), ("B", 2), (None, 1)]}


def test_by_count_puts_the_largest_first():
    JobFactory.create_batch(2, computingsite="B")
    JobFactory(computingsite="A")
    assert facet_counts(Job.objects.all(), ["computingsite"], by_count=True) == {"computingsite": [("B", 2), ("A", 1)]}


def test_numbers_sort_numerically():
    for attempt in (10, 2, 2):
        JobFactory(attemptnr=attempt)
    assert facet_counts(Job.objects.all(), ["attemptnr"]) == {"attemptnr": [(2, 2), (10, 1)]}


def test_an_expression_facet_buckets_values_and_labels_them_as_filter_values():
    JobFactory(currentpriority=950)
    JobFactory(currentpriority=999)
    JobFactory(currentpriority=1000)
    bucket = Facet("priorityrange", Floor(F("currentpriority") / Value(100.0)), lambda b: f"{int(b) * 100}")
    assert facet_counts(Job.objects.all(), [bucket]) == {"priorityrange": [("1000", 1), ("900", 2)]}


def test_the_facets_follow_the_queryset_filter():
    JobFactory(computingsite="A", jobstatus="failed")
    JobFactory(computingsite="B", jobstatus="finished")
    assert facet_counts(Job.objects.filter(jobstatus="failed"), ["computingsite"]) == {"computingsite": [("A", 1)]}


def test_empty_values_read_not_specified_in_links_and_in_the_legacy_summary():
    assert filter_value(None) == filter_value("") == "Not specified"
    assert filter_value(5) == "5"
    assert legacy_summary({"cloud": [("US", 2), (None, 1)]}) == [
        {
            "field": "cloud",
            "list": [{"kname": "US", "kvalue": 2}, {"kname": "Not specified", "kvalue": 1}],
            "stats": {"sum": 3},
        }
    ]
