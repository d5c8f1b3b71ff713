import pytest

from harvester.states import job_status_for_worker, pilot_error_for_exit, worker_outcome


@pytest.mark.parametrize(
    "worker_status, expected",
    [
        ("submitted", ("starting", None)),
        ("ready", ("starting", None)),
        ("pending", ("starting", None)),
        ("running", ("running", None)),
        ("idle", ("running", None)),
        ("finished", ("finished", None)),
        ("failed", ("failed", None)),
        ("cancelled", ("failed", "cancelled")),
        ("missed", ("failed", "missed")),
    ],
)
def test_worker_states_map_to_what_panda_is_told_about_their_jobs(worker_status, expected):
    assert job_status_for_worker(worker_status) == expected


@pytest.mark.parametrize(
    "exit_code, error", [(0, 0), (64, 1377), (65, 1008), (79, 1318), (82, 1385), (137, 1200), (143, 1201), (1, -1)]
)
def test_pilot_exit_codes_map_back_to_pilot_errors(exit_code, error):
    assert pilot_error_for_exit(exit_code) == error


def test_a_pilot_that_found_no_job_ended_its_worker_normally():
    assert worker_outcome(0) == ("finished", 0, "")
    assert worker_outcome(82)[:2] == ("finished", 0)
    status, error, diag = worker_outcome(65)
    assert (status, error) == ("failed", 1008) and "65" in diag
