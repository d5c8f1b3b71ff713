import pytest

from apps.jedi.placeholders import (
    KNOWN_NAMES,
    CompiledTemplate,
    JobContext,
    Placeholder,
    PlaceholderError,
    compact_lfns,
    compile_template,
    find_placeholders,
    render_job_parameters,
    render_output_lfn,
    unknown_placeholders,
)

IN_FILES = ["EVNT.01234._000001.pool.root.1", "EVNT.01234._000002.pool.root.1", "EVNT.01234._000010.pool.root.1"]


def context(**overrides) -> JobContext:
    values = {
        "task_id": 4242,
        "streams": {"IN": IN_FILES, "DBR": ["DBRelease-31.8.1.tar.gz"], "NUM": ["17"]},
        "stream_datasets": {"IN": "mc23:mc23.EVNT.e123/", "DBR": "ddo.DBRelease"},
        "outputs": {"OUTPUT0": "HITS.04242._000007.pool.root.1", "LOG0": "log.04242._000007.job.log.tgz.1"},
        "serial": 7,
        "rndmseed": 1007,
        "maxevents": 500,
        "skipevents": 1000,
        "firstevent": 1001,
        "attemptnr": 2,
        "surl": "https://example.org/src%20dir",
        "seqnumber": 3,
    }
    values.update(overrides)
    return JobContext(**values)


def render(template: str, **overrides) -> str:
    return render_job_parameters(template, context(**overrides)).text


# -- finding ------------------------------------------------------------------------------------


def test_it_finds_each_placeholder_form_with_its_position():
    text = "-i ${IN} -l ${IN/L/A} -n ${NUM/M[#*2]} $JEDITASKID"
    found = find_placeholders(text)
    assert found == [
        Placeholder("IN", None, None, "${IN}", 3, 8),
        Placeholder("IN", "LA", None, "${IN/L/A}", 12, 21),
        Placeholder("NUM", "M", "#*2", "${NUM/M[#*2]}", 25, 38),
        Placeholder("JEDITASKID", None, None, "$JEDITASKID", 39, 50),
    ]
    assert all(text[p.start : p.end] == p.raw for p in found)


def test_it_keeps_a_division_inside_an_m_expression():
    (found,) = find_placeholders("${SN/M[#/2]}")
    assert (found.name, found.modifier, found.expr) == ("SN", "M", "#/2")


def test_a_malformed_placeholder_is_found_with_its_inner_text_as_name():
    (found,) = find_placeholders("x ${IN[0:2]} y")
    assert found.name == "IN[0:2]" and found.modifier is None


def test_plain_dollar_text_is_not_a_placeholder():
    assert find_placeholders("echo $HOME costs $5 and {x}") == []


# -- validation ---------------------------------------------------------------------------------


def test_a_template_with_known_names_and_declared_streams_has_no_problem():
    text = (
        "-i ${IN/T} --db ${DBR} -o ${OUTPUT0} --log ${LOG0} --sn ${SN/P} --seed ${RNDMSEED} --max ${MAXEVENTS} "
        "--skip ${SKIPEVENTS} --first ${FIRSTEVENT} --src ${SURL/E} --att ${ATTEMPTNR} --seq ${SEQNUMBER} "
        "--trn ${TRN_OUTPUT0} --task $JEDITASKID ${JEDITASKID}"
    )
    assert unknown_placeholders(text, {"IN", "DBR", "OUTPUT0", "LOG0"}) == []


def test_the_known_names_are_the_fixed_ones_of_the_spec():
    assert {"SN", "RNDMSEED", "MAXEVENTS", "SKIPEVENTS", "FIRSTEVENT", "SURL", "ATTEMPTNR", "SEQNUMBER"} <= KNOWN_NAMES
    assert {"LOG0", "JEDITASKID"} <= KNOWN_NAMES


def test_an_undeclared_name_is_reported_once_by_its_placeholder():
    assert unknown_placeholders("${FOO} ${FOO} ${IN}", {"IN"}) == ["${FOO}: unknown placeholder FOO"]


def test_an_undeclared_output_or_transient_stream_is_unknown():
    problems = unknown_placeholders("${OUTPUT1} ${TRN_OUTPUT3}", {"IN", "OUTPUT0", "LOG0"})
    assert problems == ["${OUTPUT1}: unknown placeholder OUTPUT1", "${TRN_OUTPUT3}: unknown placeholder TRN_OUTPUT3"]


def test_extra_names_the_caller_supplies_are_accepted():
    assert unknown_placeholders("-l ${LIB}", {"IN"}, extra_names={"LIB"}) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("${IN/X}", "${IN/X}: unknown modifier /X"),
        ("${IN/LA}", "${IN/LA}: modifiers are single letters among A/E/F/L/M/P/S/T"),
        ("${IN/}", "${IN/}: modifiers are single letters among A/E/F/L/M/P/S/T"),
        ("${IN/P}", "${IN/P}: modifier /P does not apply to IN"),
        ("${SN/L}", "${SN/L}: modifier /L does not apply to SN"),
        ("${RNDMSEED/E}", "${RNDMSEED/E}: modifier /E does not apply to RNDMSEED"),
        ("${OUTPUT0/F}", "${OUTPUT0/F}: modifier /F does not apply to OUTPUT0"),
        ("${TRN_IN/L}", "${TRN_IN/L}: modifier /L does not apply to TRN_IN"),
        ("${IN/T/L}", "${IN/T/L}: only /L, /S and /A combine"),
        ("${IN/L/L}", "${IN/L/L}: repeated modifier"),
        ("${IN/M}", "${IN/M}: /M needs one [expr]"),
        ("${IN/L[1]}", "${IN/L[1]}: only /M takes an [expr]"),
        ("${IN[0:2]}", "${IN[0:2]}: malformed placeholder"),
        ("${}", "${}: malformed placeholder"),
    ],
)
def test_a_bad_modifier_or_syntax_is_reported_with_its_placeholder(text, problem):
    assert unknown_placeholders(text, {"IN", "OUTPUT0", "LOG0"}) == [problem]


def test_an_m_expression_that_is_not_arithmetic_is_reported():
    (problem,) = unknown_placeholders("${SN/M[__import__('os')]}", set())
    assert problem.startswith("${SN/M[__import__('os')]}: the expression")


def test_compiling_a_template_with_a_bad_modifier_raises_a_value_error_naming_it():
    with pytest.raises(ValueError, match=r"\$\{IN/Q\}: unknown modifier /Q"):
        compile_template("-i ${IN/Q}")


# -- compact form -------------------------------------------------------------------------------


def test_one_lfn_is_its_own_compact_form():
    assert compact_lfns(["EVNT.01234._000001.pool.root.1"]) == "EVNT.01234._000001.pool.root.1"


def test_differing_serial_numbers_are_factored_into_brackets_without_attempt_numbers():
    assert compact_lfns(IN_FILES) == "EVNT.01234._[000001,000002,000010].pool.root"


def test_digits_shared_by_the_first_two_lfns_stay_inside_the_brackets():
    assert compact_lfns(["f10.root", "f11.root", "f12.root"]) == "f[10,11,12].root"


def test_lfns_without_an_attempt_suffix_are_compacted_too():
    assert compact_lfns(["data.0001.raw", "data.0002.raw"]) == "data.[0001,0002].raw"


def test_lfns_that_differ_by_more_than_digits_are_listed_in_full():
    lfns = ["user.a.x1.root.1", "user.a.y2.root.1"]
    assert compact_lfns(lfns) == "user.a.x1.root.1,user.a.y2.root.1"


def test_a_later_lfn_outside_the_pattern_of_the_first_two_gives_the_full_list():
    lfns = ["a.1.root", "a.2.root", "b.3.root"]
    assert compact_lfns(lfns) == "a.1.root,a.2.root,b.3.root"


def test_duplicate_lfns_are_listed_in_full():
    assert compact_lfns(["a.root", "a.root"]) == "a.root,a.root"


def test_compacting_no_lfn_is_an_error():
    with pytest.raises(PlaceholderError):
        compact_lfns([])


# -- output LFNs --------------------------------------------------------------------------------


def test_an_output_lfn_gets_the_padded_serial_and_the_task_id():
    template = "user.me.$JEDITASKID._${SN/P}.hist.root"
    assert render_output_lfn(template, serial=12, task_id=4242) == "user.me.4242._000012.hist.root"


def test_a_plain_sn_in_an_output_lfn_is_padded_as_upstream_does():
    template = "log.${JEDITASKID}._${SN}.job.log.tgz"
    assert render_output_lfn(template, serial=3, task_id=9) == "log.9._000003.job.log.tgz"


def test_any_other_placeholder_in_an_output_lfn_is_refused():
    with pytest.raises(PlaceholderError, match=r"\$\{RNDMSEED\} is not allowed"):
        render_output_lfn("out.${RNDMSEED}.root", serial=1, task_id=1)


# -- rendering: streams and modifiers ------------------------------------------------------------


def test_a_stream_with_one_file_renders_as_the_lfn():
    assert render("--db ${DBR}") == "--db DBRelease-31.8.1.tar.gz"


def test_a_stream_with_several_files_renders_in_compact_form():
    assert render("-i ${IN}") == "-i EVNT.01234._[000001,000002,000010].pool.root"


def test_l_gives_a_comma_list():
    assert render("${IN/L}") == ",".join(IN_FILES)


def test_s_gives_a_space_list():
    assert render("${IN/S}") == " ".join(IN_FILES)


def test_a_gives_a_quoted_comma_list():
    assert render("${IN/A}") == ",".join(f"'{f}'" for f in IN_FILES)


def test_l_combines_with_a_and_s_as_upstream():
    assert render("${IN/L/A}") == ",".join(f"'{f}'" for f in IN_FILES)
    assert render("${IN/L/S}") == " ".join(IN_FILES)
    assert render("${IN/L/A/S}") == " ".join(f"'{f}'" for f in IN_FILES)


def test_t_gives_the_python_list_repr():
    assert render('-i "${IN/T}"') == f'-i "{IN_FILES!r}"'
    assert render("${DBR/T}") == "['DBRelease-31.8.1.tar.gz']"


def test_f_gives_a_tmpin_file_name_and_returns_the_list_to_write():
    text, write_to_file = render_job_parameters("--inputs ${IN/F} --db ${DBR/F}", context())
    assert text == "--inputs tmpin_mc23.EVNT.e123 --db tmpin_ddo.DBRelease"
    assert write_to_file == {"tmpin_mc23.EVNT.e123": IN_FILES, "tmpin_ddo.DBRelease": ["DBRelease-31.8.1.tar.gz"]}


def test_f_without_a_dataset_for_the_stream_is_an_error():
    with pytest.raises(PlaceholderError, match=r"\$\{NUM/F\}: no dataset is known for stream NUM"):
        render("${NUM/F}")


def test_e_url_unquotes_one_lfn_or_the_comma_list():
    streams = {"IN": ["a%2Cb.root"], "MANY": ["x%20y", "z%3A1"]}
    assert render("${IN/E} ${MANY/E}", streams=streams) == "a,b.root x y,z:1"


def test_m_evaluates_arithmetic_on_a_numeric_stream_value():
    assert render("${NUM/M[#*1000+1]} ${NUM/M[(#-1)//4]} ${NUM/M[#%5]}") == "17001 4 2"


def test_m_keeps_python_true_division():
    assert render("${NUM/M[#/2]}") == "8.5"


def test_m_on_a_non_numeric_lfn_is_an_error():
    with pytest.raises(PlaceholderError, match=r"\$\{DBR/M\[#\+1\]\}: /M needs a number"):
        render("${DBR/M[#+1]}")


def test_m_on_several_files_is_an_error():
    with pytest.raises(PlaceholderError, match="needs exactly one value, stream IN has 3 files"):
        render("${IN/M[#+1]}")


def test_m_dividing_by_zero_is_an_error_naming_the_placeholder():
    with pytest.raises(PlaceholderError, match=r"\$\{NUM/M\[#/0\]\}"):
        render("${NUM/M[#/0]}")


def test_outputs_and_the_log_render_as_their_lfns():
    assert render("-o ${OUTPUT0} --log ${LOG0} --ol ${OUTPUT0/L}") == (
        "-o HITS.04242._000007.pool.root.1 --log log.04242._000007.job.log.tgz.1 --ol HITS.04242._000007.pool.root.1"
    )


def test_a_stream_is_looked_up_in_inputs_before_outputs():
    assert render("${OUTPUT0}", streams={"OUTPUT0": ["merged.input"]}) == "merged.input"


def test_extra_values_fill_names_like_transient_streams():
    assert render("${TRN_OUTPUT0} -l ${LIB}", extra={"TRN_OUTPUT0": "a,b:c", "LIB": "lib.tgz"}) == "a,b:c -l lib.tgz"


# -- rendering: numbers and per-job values -------------------------------------------------------


def test_sn_renders_unpadded_and_sn_p_padded_in_job_parameters():
    assert render("${SN} ${SN/P} ${SN/M[#+100]}") == "7 000007 107"


def test_event_range_values_render_as_numbers():
    assert render("--seed ${RNDMSEED} --max ${MAXEVENTS} --skip ${SKIPEVENTS} --first ${FIRSTEVENT}") == (
        "--seed 1007 --max 500 --skip 1000 --first 1001"
    )


def test_per_job_values_render():
    assert render("${ATTEMPTNR} ${SEQNUMBER} ${SURL}") == "2 3 https://example.org/src%20dir"


def test_surl_e_is_url_unquoted():
    assert render("${SURL/E}") == "https://example.org/src dir"


def test_the_task_id_renders_bare_and_braced():
    assert render("$JEDITASKID.${JEDITASKID}.${JEDITASKID/M[#*2]}") == "4242.4242.8484"


def test_the_defaults_for_event_ranges_are_upstreams():
    ctx = JobContext(task_id=1)
    assert render_job_parameters("${MAXEVENTS} ${SKIPEVENTS}", ctx).text == "-1 0"


def test_text_without_placeholders_is_unchanged():
    assert render("--preExec 'x = {1: 2}' $HOME") == "--preExec 'x = {1: 2}' $HOME"


# -- unresolved placeholders --------------------------------------------------------------------


def test_an_input_stream_absent_from_the_job_is_an_error_naming_it():
    with pytest.raises(PlaceholderError, match=r"unresolved \$\{IN/L\}"):
        render("${IN/L}", streams={})


def test_an_input_stream_without_files_is_an_error():
    with pytest.raises(PlaceholderError, match=r"unresolved \$\{IN\}: stream IN has no file"):
        render("${IN}", streams={"IN": []})


def test_a_missing_seqnumber_is_an_error():
    with pytest.raises(PlaceholderError, match=r"unresolved \$\{SEQNUMBER\}"):
        render("${SEQNUMBER}", seqnumber=None)


def test_a_missing_random_seed_is_an_error():
    with pytest.raises(PlaceholderError, match=r"unresolved \$\{RNDMSEED\}"):
        render("--seed ${RNDMSEED}", rndmseed=None)


def test_an_unknown_name_is_an_error():
    with pytest.raises(PlaceholderError, match=r"unresolved \$\{FOO\}: the job has no value for FOO"):
        render("${FOO}")


def test_a_modifier_on_an_extra_value_is_an_error():
    with pytest.raises(PlaceholderError, match=r"unresolved \$\{LIB/L\}"):
        render("${LIB/L}", extra={"LIB": "lib.tgz"})


# -- event-service blocks -----------------------------------------------------------------------


ES_TEMPLATE = "run <PANDA_ES_ONLY>--eventService=True --seq ${SEQNUMBER}</PANDA_ES_ONLY> --sn ${SN}"


def test_es_only_blocks_are_kept_without_tags_for_event_service_jobs():
    assert render(ES_TEMPLATE, event_service=True) == "run --eventService=True --seq 3 --sn 7"


def test_es_only_blocks_are_dropped_for_other_jobs_with_their_placeholders():
    assert render(ES_TEMPLATE, seqnumber=None) == "run  --sn 7"


def test_es_merge_blocks_are_dropped_for_other_jobs_and_kept_for_event_service():
    template = "a <PANDA_ESMERGE_TRF>Merge_tf.py</PANDA_ESMERGE_TRF> b"
    assert render(template) == "a  b"
    assert render(template, event_service=True) == template


def test_a_bad_placeholder_inside_an_es_block_fails_compilation_anyway():
    with pytest.raises(PlaceholderError, match="unknown modifier /Z"):
        compile_template("x <PANDA_ES_ONLY>${IN/Z}</PANDA_ES_ONLY>")


# -- compiled templates -------------------------------------------------------------------------


def test_a_compiled_template_renders_many_jobs_with_their_own_values():
    compiled = compile_template("-i ${IN} -o ${OUTPUT0} --seed ${RNDMSEED}")
    assert isinstance(compiled, CompiledTemplate)
    texts = [
        compiled.render(context(streams={"IN": [f"f.{n}.root"]}, outputs={"OUTPUT0": f"o.{n}"}, rndmseed=n)).text
        for n in range(3)
    ]
    assert texts == ["-i f.0.root -o o.0 --seed 0", "-i f.1.root -o o.1 --seed 1", "-i f.2.root -o o.2 --seed 2"]


def test_compiling_the_same_text_twice_reuses_the_compiled_template():
    assert compile_template("${IN} ${SN}") is compile_template("${IN} ${SN}")


def test_the_write_to_file_lists_belong_to_each_render():
    compiled = compile_template("${IN/F}")
    first = compiled.render(context(streams={"IN": ["a"]}))
    second = compiled.render(context(streams={"IN": ["b"]}))
    assert first.write_to_file == {"tmpin_mc23.EVNT.e123": ["a"]}
    assert second.write_to_file == {"tmpin_mc23.EVNT.e123": ["b"]}
