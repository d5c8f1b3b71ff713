"""What job error codes mean: one table for the job page and the error summary."""

import pytest

from apps.jobs.error_codes import COMPONENT_BY_NAME, COMPONENTS, error_description, job_errors


@pytest.mark.parametrize(
    ("component", "code", "description"),
    [
        ("pilot", 1150, "LOOPINGJOB: Looping job killed by pilot"),
        ("pilot", -1137, "STAGEOUTFAILED: Failed to stage-out file"),  # negated: a retry request
        ("pilot", "1144", "PANDAKILL: This job was killed by panda server"),
        ("taskbuffer", 106, "retried by the server"),
        ("taskbuffer", 119, "event service: all event ranges failed"),
        ("jobdispatcher", 100, "lost heartbeat: the pilot stopped sending updates (Watcher)"),
        ("ddm", 200, "Adder: bad or missing output report entry"),
        ("sup", 2, "WORKER_ALREADY_DONE: the worker ended before the job"),
        ("transform", 251, "unknown transform failure (pilot error 1315)"),
        ("transform", 65, "payload exit code"),
        ("pilot", 999999, ""),
        ("brokerage", 42, ""),
        ("pilot", 0, ""),
        ("pilot", None, ""),
        ("pilot", "not-a-number", ""),
    ],
)
def test_error_description(component, code, description):
    assert error_description(component, code) == description


def test_the_components_are_those_of_states_md_with_their_fields():
    assert [c.name for c in COMPONENTS] == [
        "pilot",
        "exe",
        "transform",
        "ddm",
        "jobdispatcher",
        "taskbuffer",
        "sup",
        "brokerage",
    ]
    assert COMPONENT_BY_NAME["transform"].diag_field is None
    assert COMPONENT_BY_NAME["jobdispatcher"].code_field == "jobdispatchererrorcode"


def test_job_errors_lists_the_non_zero_codes_in_component_order():
    job = {
        "piloterrorcode": 1150,
        "piloterrordiag": "looping",
        "exeerrorcode": 0,
        "transexitcode": "8",
        "taskbuffererrorcode": 106,
        "taskbuffererrordiag": None,
    }
    assert job_errors(job) == [
        {
            "component": "pilot",
            "code": 1150,
            "diag": "looping",
            "description": "LOOPINGJOB: Looping job killed by pilot",
        },
        {"component": "transform", "code": "8", "diag": "", "description": "payload exit code"},
        {"component": "taskbuffer", "code": 106, "diag": "", "description": "retried by the server"},
    ]


def test_a_non_numeric_transform_exit_code_is_an_error_of_its_own():
    assert job_errors({"transexitcode": "Segmentation fault"})[0]["code"] == "Segmentation fault"
    assert job_errors({"transexitcode": "0"}) == []
    assert job_errors({"transexitcode": ""}) == []
