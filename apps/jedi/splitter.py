"""The JobSplitter (jedi.md §6): cut a stream of ready input files into job-sized chunks.

Pure: no database access. The generator hands it an iterator over the master dataset's ready
rows (read from the database in bounded batches) and asks for one chunk at a time with the limits
of the queue the chunk goes to, so 100,000 files never sit in memory at once. Rows only need the
attributes ``fsize``, ``nevents``, ``startevent`` and ``endevent``.

Rule priority (first present wins): ``nEventsPerJob`` > ``nFilesPerJob`` > ``nGBPerJob`` >
``tgtNumEventsPerJob``; without any, chunks are sized to fit the queue's scratch disk and
walltime, bounded by ``nMaxFilesPerJob``; scouts without a per-job rule get one file each.
``nEventsPerJob`` cuts event ranges (:class:`Piece` ``first``/``last``), within a file or across
files. Secondary streams (``repeat``/``nosplit`` or consumed in order) are attached per chunk by
:class:`SecondaryStream`.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

MB = 1024 * 1024
GB = 1024 * MB
MAX_INPUT_SIZE_SCOUTS_MB = 50_000
MIN_OUTPUT_DISK_MB = 512  # max(0.5 GB, outDiskCount x nEvents)
DEFAULT_MAX_FILES_PER_JOB = 200
DEFAULT_COREPOWER = 10.0


@dataclass(frozen=True)
class SplitRules:
    """The per-job rules of a task; ``None`` means "not set"."""

    n_events_per_job: int | None = None
    n_files_per_job: int | None = None
    n_gb_per_job: float | None = None
    tgt_num_events_per_job: int | None = None
    n_max_files_per_job: int | None = None

    def __post_init__(self):
        for name in ("n_events_per_job", "n_files_per_job", "n_gb_per_job", "tgt_num_events_per_job"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")

    @property
    def has_per_job_rule(self) -> bool:
        return any(
            value is not None
            for value in (self.n_events_per_job, self.n_files_per_job, self.n_gb_per_job, self.tgt_num_events_per_job)
        )


@dataclass(frozen=True)
class Resources:
    """What one event costs, for sizing chunks to a queue (task resources or scout metrics)."""

    cputime: float = 0.0  # HS06 seconds per event
    cpuefficiency: float = 100.0  # percent
    basewalltime: int = 0  # seconds
    outdisk_mb_per_event: float = 0.0
    workdisk_mb: float = 0.0
    corecount: int = 1


@dataclass(frozen=True)
class QueueLimits:
    """The queue fields the sizing formulas read; 0 means unlimited."""

    maxwdir_mb: int = 0
    maxtime: int = 0
    corecount: int = 1
    corepower: float = DEFAULT_COREPOWER


@dataclass
class Piece:
    """One input row, whole or an event range ``first``..``last`` (inclusive, absolute event numbers)."""

    row: Any
    first: int | None = None
    last: int | None = None

    @property
    def nevents(self) -> int:
        if self.first is None:
            return self.row.nevents or 0
        return self.last - self.first + 1

    @property
    def size(self) -> int:
        fsize = self.row.fsize or 0
        if self.first is None or not self.row.nevents:
            return fsize
        return int(fsize * self.nevents / self.row.nevents)

    @property
    def partial(self) -> bool:
        return self.first is not None and (self.first, self.last) != _bounds(self.row)


@dataclass
class Chunk:
    pieces: list[Piece] = field(default_factory=list)
    # stream name -> rows of that secondary dataset for this chunk
    secondaries: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def rows(self) -> list[Any]:
        return [piece.row for piece in self.pieces]

    @property
    def nevents(self) -> int:
        return sum(piece.nevents for piece in self.pieces)

    @property
    def size(self) -> int:
        return sum(piece.size for piece in self.pieces)

    @property
    def first_event(self) -> int | None:
        return self.pieces[0].first if self.pieces else None


def _bounds(row) -> tuple[int, int]:
    """The event range a row offers: ``startevent``..``endevent``, or the whole file."""
    first = row.startevent if row.startevent is not None else 0
    if row.endevent is not None:
        return first, row.endevent
    return first, first + max((row.nevents or 0), 1) - 1


class RowStream:
    """An iterator of rows with one-row push-back, and the unused tail of a partly consumed row."""

    def __init__(self, rows: Iterator[Any]):
        self._rows = iter(rows)
        self._back: list[Piece] = []

    def next_piece(self) -> Piece | None:
        if self._back:
            return self._back.pop()
        row = next(self._rows, None)
        return None if row is None else Piece(row)

    def push_back(self, piece: Piece) -> None:
        self._back.append(piece)


def queue_fits(*, size: int, nevents: int, resources: Resources, limits: QueueLimits, scout: bool) -> bool:
    """jedi.md §6: the chunk fits the queue's scratch disk and walltime."""
    maxwdir = MAX_INPUT_SIZE_SCOUTS_MB if scout else limits.maxwdir_mb
    if maxwdir:
        disk = size / MB + max(MIN_OUTPUT_DISK_MB, resources.outdisk_mb_per_event * nevents) + resources.workdisk_mb
        if disk > maxwdir:
            return False
    if limits.maxtime and resources.cputime:
        cores = max(resources.corecount or 1, limits.corecount or 1, 1)
        efficiency = (resources.cpuefficiency or 100) / 100
        walltime = resources.cputime * nevents / (cores * (limits.corepower or DEFAULT_COREPOWER) * efficiency)
        if walltime + resources.basewalltime > limits.maxtime:
            return False
    return True


class Splitter:
    """Cuts chunks from a :class:`RowStream`; keeps no rows beyond the current chunk."""

    def __init__(self, rules: SplitRules, resources: Resources | None = None):
        self.rules = rules
        self.resources = resources or Resources()

    def max_files(self) -> int:
        return self.rules.n_max_files_per_job or DEFAULT_MAX_FILES_PER_JOB

    def next_chunk(self, stream: RowStream, *, limits: QueueLimits | None = None, scout: bool = False) -> Chunk | None:
        """The next chunk, or ``None`` when the stream is exhausted."""
        rules = self.rules
        if rules.n_events_per_job:
            return self._by_events(stream, rules.n_events_per_job)
        if rules.n_files_per_job:
            return self._accumulate(stream, lambda chunk, piece: len(chunk.pieces) < rules.n_files_per_job)
        if rules.n_gb_per_job:
            limit = rules.n_gb_per_job * GB
            return self._accumulate(stream, lambda chunk, piece: chunk.size + piece.size <= limit)
        if rules.tgt_num_events_per_job:
            target = rules.tgt_num_events_per_job
            return self._accumulate(stream, lambda chunk, piece: chunk.nevents < target)
        if scout:
            return self._accumulate(stream, lambda chunk, piece: False)
        limits = limits or QueueLimits()

        def fits(chunk: Chunk, piece: Piece) -> bool:
            return queue_fits(
                size=chunk.size + piece.size,
                nevents=chunk.nevents + piece.nevents,
                resources=self.resources,
                limits=limits,
                scout=scout,
            )

        return self._accumulate(stream, fits)

    def _accumulate(self, stream: RowStream, accept) -> Chunk | None:
        """Whole files while ``accept(chunk, next_piece)`` holds; always at least one file."""
        chunk = Chunk()
        cap = self.max_files()
        while len(chunk.pieces) < cap:
            piece = stream.next_piece()
            if piece is None:
                break
            if chunk.pieces and not accept(chunk, piece):
                stream.push_back(piece)
                break
            chunk.pieces.append(piece)
        return chunk if chunk.pieces else None

    def _by_events(self, stream: RowStream, per_job: int) -> Chunk | None:
        """Exactly ``per_job`` events (fewer only at the end), cutting rows into ranges as needed."""
        chunk = Chunk()
        wanted = per_job
        while wanted > 0:
            piece = stream.next_piece()
            if piece is None:
                break
            first, last = (piece.first, piece.last) if piece.first is not None else _bounds(piece.row)
            available = last - first + 1
            if available > wanted:
                chunk.pieces.append(Piece(piece.row, first, first + wanted - 1))
                stream.push_back(Piece(piece.row, first + wanted, last))
                wanted = 0
            else:
                chunk.pieces.append(Piece(piece.row, first, last))
                wanted -= available
        return chunk if chunk.pieces else None


def chunks(
    rows: Iterator[Any],
    rules: SplitRules,
    *,
    resources: Resources | None = None,
    limits: QueueLimits | None = None,
    scout: bool = False,
) -> Iterator[Chunk]:
    """All chunks of ``rows`` for one queue (convenience over :class:`Splitter`)."""
    splitter = Splitter(rules, resources)
    stream = RowStream(rows)
    while (chunk := splitter.next_chunk(stream, limits=limits, scout=scout)) is not None:
        yield chunk


class SecondaryStream:
    """A secondary input stream (e.g. ``DBR``) attached to every chunk of the master.

    * ``nosplit``: every chunk gets all files;
    * ``repeat``: ``per_chunk`` files per chunk, cycling through the files again when they run out;
    * otherwise ``per_chunk`` files per chunk consumed in order (``ratio`` per master file when no
      ``per_chunk`` is given); when they run out the chunk gets none.
    """

    def __init__(
        self,
        name: str,
        rows: Sequence[Any],
        *,
        attributes: str = "",
        per_chunk: int | None = None,
        ratio: float | None = None,
    ):
        flags = {flag.strip() for flag in attributes.split(",") if flag.strip()}
        self.name = name
        self.rows = list(rows)
        self.nosplit = "nosplit" in flags
        self.repeat = "repeat" in flags
        self.per_chunk = per_chunk
        self.ratio = ratio
        self._next = 0

    @property
    def consumed(self) -> bool:
        """Whether its files are used up by the jobs (and so picked like the master's)."""
        return not (self.nosplit or self.repeat)

    def take(self, n_master_files: int) -> list[Any]:
        if self.nosplit or not self.rows:
            return list(self.rows)
        if self.per_chunk:
            wanted = self.per_chunk
        elif self.ratio:
            wanted = max(1, math.ceil(self.ratio * n_master_files))
        else:
            wanted = 1
        if self.repeat:
            taken = [self.rows[(self._next + i) % len(self.rows)] for i in range(wanted)]
            self._next = (self._next + wanted) % len(self.rows)
            return taken
        taken = self.rows[self._next : self._next + wanted]
        self._next += len(taken)
        return taken

    def attach(self, chunk: Chunk) -> Chunk:
        chunk.secondaries[self.name] = self.take(len(chunk.pieces))
        return chunk
