from types import SimpleNamespace

import pytest

from apps.jedi.splitter import (
    GB,
    MB,
    QueueLimits,
    Resources,
    RowStream,
    SecondaryStream,
    SplitRules,
    Splitter,
    chunks,
    queue_fits,
)


def rows(n: int, *, fsize: int = 100 * MB, nevents: int = 100):
    return [
        SimpleNamespace(fileid=i + 1, fsize=fsize, nevents=nevents, startevent=None, endevent=None) for i in range(n)
    ]


def sizes(result):
    return [len(chunk.pieces) for chunk in result]


def test_it_puts_n_files_per_job_and_keeps_the_remainder_for_a_last_smaller_job():
    assert sizes(chunks(iter(rows(7)), SplitRules(n_files_per_job=2))) == [2, 2, 2, 1]


def test_it_gives_scouts_one_file_per_job_without_a_per_job_rule():
    result = list(chunks(iter(rows(3)), SplitRules(), scout=True))
    assert sizes(result) == [1, 1, 1]


def test_scouts_follow_an_explicit_per_job_rule():
    assert sizes(chunks(iter(rows(4)), SplitRules(n_files_per_job=2), scout=True)) == [2, 2]


def test_it_cuts_event_ranges_within_a_file():
    result = list(chunks(iter(rows(1, nevents=100)), SplitRules(n_events_per_job=30)))
    assert [(c.pieces[0].first, c.pieces[0].last) for c in result] == [(0, 29), (30, 59), (60, 89), (90, 99)]
    assert [c.nevents for c in result] == [30, 30, 30, 10]
    assert result[0].pieces[0].partial


def test_it_cuts_event_ranges_across_files():
    result = list(chunks(iter(rows(3, nevents=100)), SplitRules(n_events_per_job=150)))
    assert [[(p.row.fileid, p.first, p.last) for p in c.pieces] for c in result] == [
        [(1, 0, 99), (2, 0, 49)],
        [(2, 50, 99), (3, 0, 99)],
    ]


def test_event_ranges_start_at_the_rows_startevent():
    row = SimpleNamespace(fileid=1, fsize=10, nevents=50, startevent=100, endevent=149)
    result = list(chunks(iter([row]), SplitRules(n_events_per_job=40)))
    assert [(c.pieces[0].first, c.pieces[0].last) for c in result] == [(100, 139), (140, 149)]


def test_nevents_per_job_wins_over_nfiles_per_job():
    assert [c.nevents for c in chunks(iter(rows(2)), SplitRules(n_events_per_job=50, n_files_per_job=2))] == [50] * 4


def test_it_fills_jobs_up_to_n_gb():
    assert sizes(chunks(iter(rows(5, fsize=400 * MB)), SplitRules(n_gb_per_job=1))) == [2, 2, 1]


def test_a_file_larger_than_n_gb_still_makes_a_job():
    assert sizes(chunks(iter(rows(2, fsize=3 * GB)), SplitRules(n_gb_per_job=1))) == [1, 1]


def test_it_reaches_the_target_number_of_events():
    assert sizes(chunks(iter(rows(5, nevents=40)), SplitRules(tgt_num_events_per_job=100))) == [3, 2]


def test_n_max_files_per_job_bounds_the_chunk():
    assert sizes(chunks(iter(rows(5, fsize=1)), SplitRules(n_max_files_per_job=2))) == [2, 2, 1]


def test_without_rules_it_fills_the_queues_scratch_disk():
    limits = QueueLimits(maxwdir_mb=1000)
    # 100 MB per file + 512 MB output minimum: 4 files fit (912 MB), 5 do not.
    assert sizes(chunks(iter(rows(9)), SplitRules(), limits=limits)) == [4, 4, 1]


def test_without_rules_it_respects_the_queues_walltime():
    resources = Resources(cputime=10, basewalltime=100)
    limits = QueueLimits(maxtime=1100, corepower=10)
    # 100 events x 10 HS06s / (1 core x 10 HS06) = 100 s per file; 10 files + 100 s base = 1100 s.
    assert sizes(chunks(iter(rows(25, fsize=1)), SplitRules(), resources=resources, limits=limits)) == [10, 10, 5]


def test_scouts_use_the_scout_input_size_instead_of_maxwdir():
    assert queue_fits(
        size=40_000 * MB, nevents=1, resources=Resources(), limits=QueueLimits(maxwdir_mb=1000), scout=True
    )
    assert not queue_fits(
        size=40_000 * MB, nevents=1, resources=Resources(), limits=QueueLimits(maxwdir_mb=1000), scout=False
    )


def test_it_reads_the_stream_lazily():
    consumed = []

    def source():
        for row in rows(1000):
            consumed.append(row.fileid)
            yield row

    splitter = Splitter(SplitRules(n_files_per_job=2))
    stream = RowStream(source())
    splitter.next_chunk(stream)
    splitter.next_chunk(stream)
    assert len(consumed) <= 5


def test_a_repeated_secondary_cycles_through_its_files():
    secondary = SecondaryStream("DBR", ["a", "b", "c"], attributes="repeat", per_chunk=2)
    assert [secondary.take(1) for _ in range(3)] == [["a", "b"], ["c", "a"], ["b", "c"]]
    assert not secondary.consumed


def test_a_nosplit_secondary_goes_whole_to_every_chunk():
    secondary = SecondaryStream("DBR", ["a", "b"], attributes="nosplit")
    assert secondary.take(5) == ["a", "b"] and secondary.take(1) == ["a", "b"]


def test_a_plain_secondary_is_consumed_in_proportion_to_the_master():
    secondary = SecondaryStream("MB", list(range(10)), ratio=0.5)
    result = [c.secondaries["MB"] for c in map(secondary.attach, chunks(iter(rows(8)), SplitRules(n_files_per_job=4)))]
    assert result == [[0, 1], [2, 3]]
    assert secondary.consumed


def test_rules_refuse_nonpositive_values():
    with pytest.raises(ValueError, match="n_files_per_job"):
        SplitRules(n_files_per_job=0)
