"""The placeholder language of JEDI's ``jobParameters`` templates (spec/jedi.md §5).

A task's job-parameter template is text with placeholders that the JobGenerator fills in for every
job: ``${IN}``, ``${IN/L}``, ``${OUTPUT0}``, ``${SN}``, ``$JEDITASKID``, ... This module is pure (no
database): it finds and validates placeholders (for the refiner, to reject a bad task parameter map
with a clear message) and renders templates and output LFNs (for the generator, up to 100,000 jobs
per cycle, so a template is compiled once and rendered many times).

Grammar: ``${NAME}`` or ``${NAME/X}`` with modifiers ``/X`` after the name, ``M`` followed by
``[expr]``; the bare ``$JEDITASKID`` is a placeholder too. Names are

* input streams (``IN``, ``DBR``, ... as declared by the task's input items), ``OUTPUT<k>`` and
  ``LOG0`` (the job's output / log LFNs): any modifier but ``P``; ``F`` only on input streams;
* ``SN`` (``/P`` pads to 6 digits, ``/M``), the numbers ``RNDMSEED``, ``MAXEVENTS``, ``SKIPEVENTS``,
  ``FIRSTEVENT``, ``ATTEMPTNR``, ``SEQNUMBER``, ``JEDITASKID`` (``/M`` only), ``SURL`` (``/E`` only),
  and ``TRN_<stream>`` (no modifier).

What a stream renders to (LFNs in the order given; the generator sorts them as upstream does):

* no modifier: the LFN for one file, else :func:`compact_lfns` (``head[a,b,c]tail``);
* ``/L`` comma list, ``/S`` space list, ``/A`` single-quoted comma list; they combine as upstream's
  ``/L/A``, ``/L/S``, ``/L/A/S`` (quoted, space-separated) do;
* ``/T`` the Python list repr ``['a', 'b']``;
* ``/F`` the file name ``tmpin_<dataset>`` (dataset without scope and trailing ``/``); the LFNs are
  returned in :attr:`Rendered.write_to_file` under that name, for the job's ``writeToFile``;
* ``/E`` URL-unquoted (the LFN, or the comma list of several);
* ``/M[expr]`` arithmetic on a single numeric value: ``#`` stands for the value (an LFN of a
  pseudo-input stream that is a number, or ``SN``, ``SEQNUMBER``, ...); ints, floats, ``+ - * / //
  %``, unary minus and parentheses, e.g. ``${SEQNUMBER/M[#*1000+1]}``. ``/`` is true division
  (``5.0``), use ``//`` for integers. Anything else in the expression is refused when compiling.

``${SN}`` renders unpadded in job parameters but 6-digit padded in output LFNs
(:func:`render_output_lfn`), as upstream does. ``<PANDA_ES_ONLY>…</PANDA_ES_ONLY>`` blocks are kept
(tags removed) for event-service jobs and dropped otherwise, together with any
``<PANDA_ESMERGE…>…</PANDA_ESMERGE…>`` block; placeholders inside a dropped block need no value.

Unlike upstream, which leaves an unknown or valueless placeholder in the text (and only refuses an
unresolved ``${IN…}`` or ``${SEQNUMBER}``), rendering refuses every placeholder it cannot fill with
:class:`PlaceholderError`, naming it: a job with a literal ``${RNDMSEED}`` in its arguments is broken.
"""

import ast
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import unquote


class PlaceholderError(ValueError):
    """A placeholder is malformed, unknown, or has no value for this job."""


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One occurrence in a template. ``modifier`` is the modifier letters in order (``"L"``,
    ``"LA"`` for ``/L/A``) or None; ``expr`` is the ``/M[expr]`` expression; ``raw`` is the text
    ``text[start:end]``. A malformed ``${...}`` has its inner text as ``name``."""

    name: str
    modifier: str | None
    expr: str | None
    raw: str
    start: int
    end: int


class Rendered(NamedTuple):
    """Rendered job parameters; unpacks as ``text, write_to_file``. ``write_to_file`` maps each
    ``tmpin_<dataset>`` file name used by a ``/F`` placeholder to the LFNs the pilot writes in it."""

    text: str
    write_to_file: dict[str, list[str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobContext:
    """The per-job values a template is rendered with. None means "no value": a placeholder that
    needs it raises. ``maxevents``/``skipevents`` default to upstream's -1 / 0. ``extra`` holds
    further per-job named values (``TRN_<stream>``, ``LIB``, ...), used without modifiers."""

    task_id: int
    streams: Mapping[str, Sequence[str]] = field(default_factory=dict)
    stream_datasets: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    serial: int | None = None
    rndmseed: int | None = None
    maxevents: int | None = -1
    skipevents: int | None = 0
    firstevent: int | None = None
    attemptnr: int | None = None
    surl: str | None = None
    seqnumber: int | None = None
    event_service: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)


# Fixed names and the JobContext attribute holding their value.
_SCALARS = {
    "SN": "serial",
    "RNDMSEED": "rndmseed",
    "MAXEVENTS": "maxevents",
    "SKIPEVENTS": "skipevents",
    "FIRSTEVENT": "firstevent",
    "SURL": "surl",
    "ATTEMPTNR": "attemptnr",
    "SEQNUMBER": "seqnumber",
    "JEDITASKID": "task_id",
}
KNOWN_NAMES = frozenset([*_SCALARS, "LOG0"])
"""Names valid in every template. Also valid: ``OUTPUT<k>`` and input streams once declared, and
``TRN_<stream>`` for a declared stream (see :func:`unknown_placeholders`)."""

MODIFIERS = frozenset("LSATFEMP")
_LIST_MODS = frozenset("LSA")
_STREAM_MODS = frozenset("LSATFEM")
_SCALAR_MODS = {"SN": frozenset("PM"), "SURL": frozenset("E")}
_NUMERIC_MODS = frozenset("M")
_OUTPUT_RE = re.compile(r"OUTPUT\d+|LOG0")

_FIND_RE = re.compile(r"\$\{([^{}]*)\}|\$JEDITASKID")
_INNER_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:/[^/\[\]]*(?:\[[^\]]*\])?)*)")
_MOD_RE = re.compile(r"/([^/\[\]]*)(?:\[([^\]]*)\])?")
_ES_BLOCK_RE = re.compile(r"<PANDA_ES_ONLY>.*?</PANDA_ES_ONLY>", re.S)
_ESMERGE_BLOCK_RE = re.compile(r"<PANDA_ESMERGE[^>]*>.*?</PANDA_ESMERGE[^>]*>", re.S)
_TRAILING_ATTEMPT_RE = re.compile(r"\.\d+$")
_INT_RE = re.compile(r"[+-]?\d+")


def find_placeholders(text: str) -> list[Placeholder]:
    """Every ``${...}`` and bare ``$JEDITASKID`` in ``text``, in order."""
    found = []
    for m in _FIND_RE.finditer(text):
        inner = m.group(1)
        if inner is None:
            found.append(Placeholder("JEDITASKID", None, None, m.group(0), m.start(), m.end()))
            continue
        parsed = _INNER_RE.fullmatch(inner)
        if parsed is None:
            found.append(Placeholder(inner, None, None, m.group(0), m.start(), m.end()))
            continue
        letters, expr = [], None
        for mod in _MOD_RE.finditer(parsed.group(2)):
            letters.append(mod.group(1))
            if mod.group(2) is not None:
                expr = mod.group(2)
        # A modifier token that is not one letter is kept whole ("/LA") so that validation names it.
        modifier = "".join(t if len(t) == 1 else f"/{t}" for t in letters) if letters else None
        found.append(Placeholder(parsed.group(1), modifier, expr, m.group(0), m.start(), m.end()))
    return found


def _syntax_problem(ph: Placeholder) -> str | None:
    """What is wrong with a placeholder whatever the task declares, or None."""
    if _INNER_RE.fullmatch(ph.name) is None or "/" in ph.name:
        return f"{ph.raw}: malformed placeholder"
    mods = _modifier_letters(ph)
    if mods is None:
        return f"{ph.raw}: modifiers are single letters among {'/'.join(sorted(MODIFIERS))}"
    bad = [m for m in mods if m not in MODIFIERS]
    if bad:
        return f"{ph.raw}: unknown modifier /{bad[0]}"
    if len(set(mods)) != len(mods):
        return f"{ph.raw}: repeated modifier"
    brackets = ph.raw.count("[")
    if "M" in mods:
        if ph.expr is None or brackets != 1:
            return f"{ph.raw}: /M needs one [expr]"
        try:
            _compile_arith(ph.expr)
        except PlaceholderError as exc:
            return f"{ph.raw}: {exc}"
    elif brackets:
        return f"{ph.raw}: only /M takes an [expr]"
    if len(mods) > 1 and not set(mods) <= _LIST_MODS:
        return f"{ph.raw}: only /L, /S and /A combine"
    allowed = _allowed_modifiers(ph.name)
    outside = [m for m in mods if m not in allowed]
    if outside:
        return f"{ph.raw}: modifier /{outside[0]} does not apply to {ph.name}"
    return None


def _modifier_letters(ph: Placeholder) -> str | None:
    mods = ph.modifier or ""
    return None if "/" in mods else mods


def _allowed_modifiers(name: str) -> frozenset[str]:
    if name in _SCALAR_MODS:
        return _SCALAR_MODS[name]
    if name in _SCALARS:
        return _NUMERIC_MODS
    if name.startswith("TRN_"):
        return frozenset()
    if _OUTPUT_RE.fullmatch(name):
        return _STREAM_MODS - {"F"}
    return _STREAM_MODS


def unknown_placeholders(text: str, streams: Iterable[str], *, extra_names: Iterable[str] = ()) -> list[str]:
    """Problems with the placeholders of ``text``, one message per distinct placeholder, in order;
    empty when the template is good. ``streams`` is every stream the task declares: its input
    streams (``IN``, ``DBR``, ...), ``OUTPUT<k>`` for its outputs and ``LOG0``. ``extra_names`` are
    further names the caller will supply through ``JobContext.extra`` (e.g. ``LIB``)."""
    declared = set(streams) | set(extra_names)
    problems: list[str] = []
    seen: set[str] = set()
    for ph in find_placeholders(text):
        if ph.raw in seen:
            continue
        seen.add(ph.raw)
        problem = _syntax_problem(ph)
        if problem is None and not _is_known(ph.name, declared):
            problem = f"{ph.raw}: unknown placeholder {ph.name}"
        if problem is not None:
            problems.append(problem)
    return problems


def _is_known(name: str, declared: set[str]) -> bool:
    if name in KNOWN_NAMES or name in declared:
        return True
    return name.startswith("TRN_") and name[4:] in declared


def compact_lfns(lfns: Sequence[str]) -> str:
    """Several LFNs in upstream's compact form, e.g. ``a._000001.pool.root.1``,
    ``a._000002.pool.root.1`` -> ``a._[000001,000002].pool.root``.

    The rule (panda-jedi JobGenerator): drop a trailing ``.<digits>`` (the attempt number) from each
    LFN; take the common prefix and suffix of the first two, minus digits at the prefix's end and
    the suffix's start; if every LFN is then prefix + digits + suffix, write ``prefix[d1,d2,...]suffix``,
    else the plain comma-separated list of the full LFNs. One LFN is returned as it is.
    """
    if not lfns:
        raise PlaceholderError("no LFN to write")
    if len(lfns) == 1:
        return lfns[0]
    bare = [_TRAILING_ATTEMPT_RE.sub("", lfn) for lfn in lfns]
    first, second = bare[0], bare[1]
    n = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        n += 1
    head = first[:n].rstrip("0123456789")
    n = 0
    for a, b in zip(reversed(first), reversed(second), strict=False):
        if a != b:
            break
        n += 1
    tail = first[len(first) - n :].lstrip("0123456789")
    middles = []
    for lfn in bare:
        middle = lfn[len(head) : len(lfn) - len(tail)]
        if not (lfn.startswith(head) and lfn.endswith(tail) and len(lfn) >= len(head) + len(tail)):
            return ",".join(lfns)
        if not middle.isdigit():
            return ",".join(lfns)
        middles.append(middle)
    return f"{head}[{','.join(middles)}]{tail}"


def render_output_lfn(template: str, *, serial: int, task_id: int) -> str:
    """An output or log LFN from its template: ``${SN}`` and ``${SN/P}`` become the serial number
    padded to 6 digits, ``$JEDITASKID``/``${JEDITASKID}`` the task id. Any other placeholder raises."""
    sn = f"{serial:06d}"
    tid = str(task_id)
    lfn = template.replace("${SN}", sn).replace("${SN/P}", sn).replace("$JEDITASKID", tid).replace("${JEDITASKID}", tid)
    if "${" in lfn:
        raw = find_placeholders(lfn)
        name = raw[0].raw if raw else "${"
        raise PlaceholderError(f"output file name template {template!r}: {name} is not allowed in an LFN")
    return lfn


# -- compiled templates ------------------------------------------------------------------------

_Getter = Callable[[JobContext, dict[str, list[str]]], str]


class CompiledTemplate:
    """A template parsed once, rendered per job with :meth:`render`."""

    __slots__ = ("source", "placeholders", "_plain", "_es")

    def __init__(self, source: str) -> None:
        self.source = source
        self.placeholders = tuple(find_placeholders(source))
        plain = _ES_BLOCK_RE.sub("", _ESMERGE_BLOCK_RE.sub("", source))
        es = source.replace("<PANDA_ES_ONLY>", "").replace("</PANDA_ES_ONLY>", "")
        self._plain = _compile_parts(plain)
        self._es = self._plain if es == plain else _compile_parts(es)

    def render(self, ctx: JobContext) -> Rendered:
        write_to_file: dict[str, list[str]] = {}
        out = []
        for part in self._es if ctx.event_service else self._plain:
            out.append(part if part.__class__ is str else part(ctx, write_to_file))
        return Rendered("".join(out), write_to_file)

    def __repr__(self) -> str:
        return f"CompiledTemplate({self.source!r})"


@lru_cache(maxsize=512)
def compile_template(text: str) -> CompiledTemplate:
    """Parse ``text`` once (cached); raises PlaceholderError for a malformed placeholder or a
    modifier that does not apply. Whether a name has a value is only known per job, at render."""
    return CompiledTemplate(text)


def render_job_parameters(template: str, ctx: JobContext) -> Rendered:
    """``compile_template(template).render(ctx)``: the job's argument string and its writeToFile lists."""
    return compile_template(template).render(ctx)


def _compile_parts(text: str) -> tuple[str | _Getter, ...]:
    parts: list[str | _Getter] = []
    pos = 0
    for ph in find_placeholders(text):
        problem = _syntax_problem(ph)
        if problem is not None:
            raise PlaceholderError(problem)
        if ph.start > pos:
            parts.append(text[pos : ph.start])
        parts.append(_getter(ph))
        pos = ph.end
    if pos < len(text):
        parts.append(text[pos:])
    return tuple(parts)


def _getter(ph: Placeholder) -> _Getter:
    if ph.name in _SCALARS:
        return _scalar_getter(ph, _SCALARS[ph.name])
    return _stream_getter(ph)


def _scalar_getter(ph: Placeholder, attr: str) -> _Getter:
    raw = ph.raw
    mods = ph.modifier or ""

    def value(ctx: JobContext) -> object:
        v = getattr(ctx, attr)
        if v is None:
            raise PlaceholderError(f"unresolved {raw}: the job has no {ph.name}")
        return v

    if mods == "P":
        return lambda ctx, _wtf: f"{value(ctx):06d}"
    if mods == "M":
        arith = _compile_arith(ph.expr or "")
        return lambda ctx, _wtf: arith(value(ctx), raw)
    if mods == "E":
        return lambda ctx, _wtf: unquote(str(value(ctx)))
    return lambda ctx, _wtf: str(value(ctx))


def _stream_getter(ph: Placeholder) -> _Getter:
    name, raw = ph.name, ph.raw
    fmt = _stream_formatter(ph)

    def get(ctx: JobContext, wtf: dict[str, list[str]]) -> str:
        lfns = ctx.streams.get(name)
        if lfns is None:
            lfn = ctx.outputs.get(name)
            if lfn is not None:
                lfns = (lfn,)
            elif name in ctx.extra and ph.modifier is None:
                return str(ctx.extra[name])
            else:
                raise PlaceholderError(f"unresolved {raw}: the job has no value for {name}")
        if not lfns:
            raise PlaceholderError(f"unresolved {raw}: stream {name} has no file in this job")
        return fmt(lfns, ctx, wtf)

    return get


def _stream_formatter(ph: Placeholder) -> Callable[[Sequence[str], JobContext, dict[str, list[str]]], str]:
    mods = ph.modifier or ""
    name, raw = ph.name, ph.raw
    if not mods:
        return lambda lfns, _ctx, _wtf: lfns[0] if len(lfns) == 1 else compact_lfns(lfns)
    if set(mods) <= _LIST_MODS:
        sep = " " if "S" in mods else ","
        if "A" in mods:
            return lambda lfns, _ctx, _wtf: sep.join(f"'{lfn}'" for lfn in lfns)
        return lambda lfns, _ctx, _wtf: sep.join(lfns)
    if mods == "T":
        return lambda lfns, _ctx, _wtf: repr(list(lfns))
    if mods == "E":
        return lambda lfns, _ctx, _wtf: unquote(",".join(lfns))
    if mods == "F":

        def to_file(lfns: Sequence[str], ctx: JobContext, wtf: dict[str, list[str]]) -> str:
            dataset = ctx.stream_datasets.get(name)
            if not dataset:
                raise PlaceholderError(f"unresolved {raw}: no dataset is known for stream {name}")
            file_name = "tmpin_" + dataset.rstrip("/").split(":")[-1]
            wtf[file_name] = list(lfns)
            return file_name

        return to_file
    # Only M is left (validated at compile time).
    arith = _compile_arith(ph.expr or "")

    def math(lfns: Sequence[str], _ctx: JobContext, _wtf: dict[str, list[str]]) -> str:
        if len(lfns) != 1:
            raise PlaceholderError(f"{raw}: /M needs exactly one value, stream {name} has {len(lfns)} files")
        return arith(lfns[0], raw)

    return math


# -- /M[expr] arithmetic ----------------------------------------------------------------------

_ARITH_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.USub,
    ast.UAdd,
)
_VALUE_NAME = "_value_"


@lru_cache(maxsize=256)
def _compile_arith(expr: str) -> Callable[[object, str], str]:
    """A function (value, raw placeholder) -> str evaluating ``expr`` with ``#`` as the value.
    Only numbers, ``#``, + - * / // %, unary +/- and parentheses are accepted."""
    source = expr.replace("#", f" {_VALUE_NAME} ")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        raise PlaceholderError(f"cannot parse the expression {expr!r}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ARITH_NODES):
            raise PlaceholderError(f"the expression {expr!r} may only use numbers, #, + - * / // % and ()")
        if isinstance(node, ast.Name) and node.id != _VALUE_NAME:
            raise PlaceholderError(f"the expression {expr!r} may only use numbers, #, + - * / // % and ()")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, int | float)):
            raise PlaceholderError(f"the expression {expr!r} may only use numbers, #, + - * / // % and ()")
    code = compile(tree, "<placeholder expression>", "eval")
    no_builtins: dict[str, object] = {"__builtins__": {}}

    def evaluate(value: object, raw: str) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = value
        else:
            text = str(value)
            try:
                number = int(text) if _INT_RE.fullmatch(text) else float(text)
            except ValueError:
                raise PlaceholderError(f"{raw}: /M needs a number, got {text!r}") from None
        try:
            return str(eval(code, no_builtins, {_VALUE_NAME: number}))  # noqa: S307 - AST checked above
        except ArithmeticError as exc:
            raise PlaceholderError(f"{raw}: {exc}") from None

    return evaluate
