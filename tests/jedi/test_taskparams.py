import json

import pytest

from apps.jedi.taskparams import (
    SPLIT_RULE_CODES,
    TaskParamError,
    load_task_params,
    parse_task_params,
    split_rule_format,
    split_rule_parse,
    trans_home,
)
from tests.jedi_factories import task_params


def refused(params, match):
    with pytest.raises(TaskParamError, match=match):
        parse_task_params(params)


def without(key, **overrides):
    params = task_params(**overrides)
    del params[key]
    return params


def input_item(dataset="mc23:mc23.EVNT.e1", value='-i "${IN/T}"', **extra):
    return {"type": "template", "param_type": "input", "value": value, "dataset": dataset, **extra}


def output_item(value="outputFile=out.$JEDITASKID.${SN}.root", dataset="user.jdoe.out/", **extra):
    return {"type": "template", "param_type": "output", "value": value, "dataset": dataset, **extra}


def with_items(*items, **overrides):
    return task_params(jobParameters=list(items), **overrides)


# --- split rule -----------------------------------------------------------------------------


def test_split_rule_codes_are_upstreams_two_letter_codes():
    assert SPLIT_RULE_CODES["nFilesPerJob"] == "NF"
    assert SPLIT_RULE_CODES["nEventsPerJob"] == "NE"
    assert SPLIT_RULE_CODES["nGBPerJob"] == "NG"
    assert SPLIT_RULE_CODES["nMaxFilesPerJob"] == "MF"
    assert len(set(SPLIT_RULE_CODES.values())) == len(SPLIT_RULE_CODES)


def test_split_rule_format_and_parse_are_inverse():
    rules = {"nFilesPerJob": 2, "nMaxFilesPerJob": 10, "useScout": True, "debugMode": False, "retryRamOffset": 1000}
    text = split_rule_format(rules)
    assert text == "NF=2,MF=10,US=1,RX=1000"
    assert split_rule_parse(text) == {"nFilesPerJob": 2, "nMaxFilesPerJob": 10, "useScout": 1, "retryRamOffset": 1000}


def test_split_rule_parse_skips_codes_it_does_not_know_and_reads_empty_as_nothing():
    assert split_rule_parse("NF=3,ZZ=9,junk") == {"nFilesPerJob": 3}
    assert split_rule_parse("") == {} and split_rule_parse(None) == {}


def test_split_rule_parse_refuses_a_non_integer_value():
    with pytest.raises(TaskParamError, match="NF=two"):
        split_rule_parse("NF=two")


def test_the_split_rule_of_a_task_holds_its_splitting_and_behaviour_keys():
    parsed = parse_task_params(
        task_params(
            nFilesPerJob=2,
            nMaxFilesPerJob=10,
            nGBPerJob=5,
            nEventsPerJob=100,
            tgtNumEventsPerJob=500,
            nFiles=40,
            nEvents=4000,
            nEventsPerInputFile=1000,
            disableAutoRetry=True,
            debugMode=True,
            useSecrets=True,
            noLoopingCheck=True,
            writeInputToFile=True,
            encJobParams=True,
            retryRamOffset=500,
            retryRamStep=250,
            maxCoreCount=8,
        )
    )
    rules = split_rule_parse(parsed.splitrule)
    assert rules == parsed.rules
    assert rules["nFilesPerJob"] == 2 and rules["nMaxFilesPerJob"] == 10 and rules["nGBPerJob"] == 5
    assert rules["nEventsPerJob"] == 100 and rules["tgtNumEventsPerJob"] == 500
    assert rules["nFiles"] == 40 and rules["nEvents"] == 4000 and rules["nEventsPerInputFile"] == 1000
    assert rules["disableAutoRetry"] == rules["debugMode"] == rules["useSecrets"] == 1
    assert rules["noLoopingCheck"] == rules["writeInputToFile"] == rules["encJobParams"] == 1
    assert rules["retryRamOffset"] == 500 and rules["retryRamStep"] == 250 and rules["maxCoreCount"] == 8
    assert rules["useScout"] == 1
    assert "DR=1" in parsed.splitrule and "NF=2" in parsed.splitrule


def test_skip_scout_leaves_the_scout_flag_out():
    assert "useScout" not in parse_task_params(task_params(skipScout=True)).rules


# --- identity, payload, placement, resources -------------------------------------------------


def test_identity_keys_become_task_columns():
    params = task_params(
        workingGroup="AP_Higgs", processingType="simul", campaign="MC23", reqID=77, countryGroup="us", goal=90.5
    )
    columns = parse_task_params(params).columns
    assert columns["taskname"] == "user.jdoe.test.001/" and columns["username"] == "Jane Doe"
    assert columns["vo"] == "atlas" and columns["prodsourcelabel"] == "user" and columns["tasktype"] == "anal"
    assert columns["taskpriority"] == columns["currentpriority"] == 1000
    assert columns["workinggroup"] == "AP_Higgs" and columns["processingtype"] == "simul"
    assert columns["campaign"] == "MC23" and columns["reqid"] == 77 and columns["countrygroup"] == "us"
    assert columns["goal"] == 905
    assert columns["job_label"] == "user"


def test_vo_and_label_have_defaults_and_a_production_label_makes_a_prod_task():
    params = without("vo")
    del params["prodSourceLabel"], params["taskType"]
    columns = parse_task_params(params).columns
    assert (columns["vo"], columns["prodsourcelabel"], columns["tasktype"]) == ("atlas", "user", "anal")
    params["prodSourceLabel"] = "managed"
    columns = parse_task_params(params).columns
    assert columns["tasktype"] == "prod" and columns["job_label"] == "managed"


def test_payload_keys_become_task_columns_and_trans_home_gets_a_slash():
    columns = parse_task_params(
        task_params(transHome="AtlasProduction-17.2.11-x", transUses="Atlas-17.2.11", container_name="docker://x")
    ).columns
    assert columns["transhome"] == "AtlasProduction/17.2.11-x"
    assert columns["transuses"] == "Atlas-17.2.11" and columns["container_name"] == "docker://x"
    assert columns["transpath"] == "http://127.0.0.1/trf/run.sh" and columns["architecture"] == "x86_64-el9-gcc13-opt"


def test_trans_home_rewrites_only_the_first_dash_before_a_version():
    assert trans_home("AnalysisBase-22.2.1") == "AnalysisBase/22.2.1"
    assert trans_home("A-1.2-3.4") == "A/1.2-3.4"
    assert trans_home("NoVersion") == "NoVersion"
    assert trans_home(None) is None


def test_placement_keys_become_task_columns():
    columns = parse_task_params(task_params(cloud="US", site="ANALY_.*", nucleus="BNL")).columns
    assert (columns["cloud"], columns["site"], columns["nucleus"]) == ("US", "ANALY_.*", "BNL")


def test_resource_keys_become_task_columns_with_upstream_defaults():
    columns = parse_task_params(
        task_params(
            coreCount=8,
            ramCount=2000,
            ramCountUnit="MBPerCoreFixed",
            baseRamCount=500,
            walltime=7200,
            walltimeUnit="s",
            cpuTime=12.5,
            cpuTimeUnit="HS06sPerEvent",
            outDiskCount=1.5,
            outDiskUnit="kBFixed",
            workDiskCount=3000,
            workDiskUnit="MB",
            ioIntensity=500,
            ioIntensityUnit="kBPerS",
        )
    ).columns
    assert columns["corecount"] == 8 and columns["ramcount"] == 2000 and columns["ramunit"] == "MBPerCoreFixed"
    assert columns["baseramcount"] == 500 and columns["walltime"] == 7200 and columns["walltimeunit"] == "s"
    assert columns["cputime"] == 12.5 and columns["cputimeunit"] == "HS06sPerEvent"
    assert columns["outdiskcount"] == 1.5 and columns["outdiskunit"] == "kBFixed"
    assert columns["workdiskcount"] == 3000 and columns["workdiskunit"] == "MB"
    assert columns["iointensity"] == 500 and columns["iointensityunit"] == "kBPerS"
    defaults = parse_task_params(without("coreCount")).columns
    assert defaults["corecount"] == 1 and defaults["cpuefficiency"] == 90 and defaults["basewalltime"] == 600


def test_max_attempt_defaults_to_three_and_is_one_without_auto_retry():
    assert parse_task_params(task_params()).max_attempt == 3
    assert parse_task_params(task_params(maxAttempt=7, maxFailure=2)).max_attempt == 7
    assert parse_task_params(task_params(maxAttempt=7, maxFailure=2)).max_failure == 2
    assert parse_task_params(task_params(maxAttempt=7, disableAutoRetry=True)).max_attempt == 1


# --- layout: datasets, templates, job parameters --------------------------------------------


def test_the_input_item_becomes_the_master_input_stream_in():
    parsed = parse_task_params(task_params())
    (master,) = parsed.inputs()
    assert master.type == "input" and master.streamname == "IN" and master.master is None
    assert master.datasetname == "mc23:mc23.EVNT.e1" and master.expand is True


def test_input_names_get_their_scope_and_containers_keep_their_slash():
    parsed = parse_task_params(with_items(input_item(dataset="user.jdoe.data.v1/"), output_item()))
    (master,) = parsed.inputs()
    assert master.datasetname == "user.jdoe:user.jdoe.data.v1/" and master.containername == master.datasetname


def test_a_secondary_input_is_named_by_its_placeholder_and_points_at_the_master():
    parsed = parse_task_params(
        with_items(
            input_item(),
            input_item(dataset="ddo.DBRelease.v1", value="--db=${DBR}", attributes="repeat,nosplit", nFilesPerJob=1),
            output_item(),
        )
    )
    master, secondary = parsed.inputs()
    assert secondary.streamname == "DBR" and secondary.master == "IN"
    assert secondary.attributes == "repeat,nosplit" and secondary.nfilesperjob == 1
    assert secondary.datasetname == "ddo:ddo.DBRelease.v1"


def test_comma_separated_input_datasets_share_the_stream():
    parsed = parse_task_params(with_items(input_item(dataset="mc23.A.1,mc23.B.2"), output_item()))
    assert [(ds.datasetname, ds.streamname) for ds in parsed.inputs()] == [
        ("mc23:mc23.A.1", "IN"),
        ("mc23:mc23.B.2", "IN"),
    ]


def test_include_exclude_and_explicit_files_are_kept_with_the_input():
    parsed = parse_task_params(
        with_items(input_item(include="*.root,AOD*", exclude="*.tmp", files=["a.root", "b.root"]), output_item())
    )
    (master,) = parsed.inputs()
    assert master.include == ("*.root", "AOD*") and master.exclude == ("*.tmp",)
    assert master.files == ("a.root", "b.root")


def test_outputs_become_output_streams_with_their_templates_replaced_in_the_job_parameters():
    parsed = parse_task_params(
        with_items(
            input_item(),
            output_item(value="outputAODFile=AOD.$JEDITASKID._${SN}.pool.root", dataset="mc23.AOD/", offset=100),
            output_item(value="outputHISTFile='HIST.${SN/P}.root'", dataset="mc23.HIST/", token="ATLASDATADISK"),
        )
    )
    aod, hist = [ds for ds in parsed.datasets if ds.type == "output"]
    assert (aod.streamname, hist.streamname) == ("OUTPUT0", "OUTPUT1")
    assert aod.templates[0].filenametemplate == "AOD.$JEDITASKID._${SN}.pool.root"
    assert aod.templates[0].serialnr == 101
    assert hist.templates[0].filenametemplate == "HIST.${SN/P}.root" and hist.storagetoken == "ATLASDATADISK"
    assert parsed.jobparams_template == "-i \"${IN/T}\" outputAODFile=${OUTPUT0} outputHISTFile='${OUTPUT1}'"


def test_an_output_value_without_equals_sign_uses_its_last_word_as_template():
    parsed = parse_task_params(task_params())
    (output,) = [ds for ds in parsed.datasets if ds.type == "output"]
    assert output.templates[0].filenametemplate == "user.jdoe.$JEDITASKID._${SN/P}.out.root"
    assert parsed.jobparams_template == '--events 10 -i "${IN/T}" -o ${OUTPUT0}'


def test_two_outputs_into_one_dataset_make_one_dataset_with_two_streams():
    parsed = parse_task_params(
        with_items(input_item(), output_item(value="a=A.${SN}.root"), output_item(value="b=B.${SN}.root"))
    )
    (output,) = [ds for ds in parsed.datasets if ds.type == "output"]
    assert [t.streamname for t in output.templates] == ["OUTPUT0", "OUTPUT1"]
    assert parsed.jobparams_template.endswith("a=${OUTPUT0} b=${OUTPUT1}")


def test_the_log_becomes_stream_log0_with_its_template():
    parsed = parse_task_params(task_params())
    (log,) = [ds for ds in parsed.datasets if ds.type == "log"]
    assert log.streamname == "LOG0" and log.datasetname == "user.jdoe.test.001.log/"
    assert log.templates[0].filenametemplate == "user.jdoe.test.001.log.$JEDITASKID.${SN}.log.tgz"


def test_hidden_items_padding_and_es_only_shape_the_template():
    parsed = parse_task_params(
        with_items(
            {"type": "constant", "value": "-a", "padding": False},
            {"type": "constant", "value": "b"},
            {"type": "constant", "value": "--secret", "hidden": True},
            {"type": "constant", "value": "--es", "es_only": True},
            input_item(),
            output_item(),
        )
    )
    assert parsed.jobparams_template == '-ab <PANDA_ES_ONLY>--es</PANDA_ES_ONLY> -i "${IN/T}" outputFile=${OUTPUT0}'


def test_random_seed_and_first_event_offsets_go_into_the_split_rule():
    parsed = parse_task_params(
        with_items(
            input_item(),
            {"type": "template", "param_type": "number", "value": "--seed=${RNDMSEED}", "offset": 1000},
            {"type": "template", "param_type": "number", "value": "--first=${FIRSTEVENT}", "offset": 5},
            output_item(),
            nEventsPerJob=100,
        )
    )
    assert parsed.rules["randomSeed"] == 1000 and parsed.rules["firstEvent"] == 5


def test_merge_output_adds_unmerged_template_datasets():
    parsed = parse_task_params(task_params(mergeOutput=True))
    tmpl = {ds.type: ds for ds in parsed.datasets if ds.type.startswith("tmpl_")}
    assert set(tmpl) == {"tmpl_output", "tmpl_log"}
    assert tmpl["tmpl_output"].datasetname == "panda.um.user.jdoe.test.001_out/"
    assert tmpl["tmpl_output"].storagetoken == "TOMERGE" and tmpl["tmpl_output"].streamname == "OUTPUT0"
    assert tmpl["tmpl_output"].templates[0].filenametemplate == "panda.um.user.jdoe.$JEDITASKID._${SN/P}.out.root"
    assert parsed.rules["mergeOutput"] == 1


def test_build_spec_adds_a_lib_dataset():
    parsed = parse_task_params(task_params(buildSpec={"archiveName": "src.tgz", "jobParameters": "-i ${IN}"}))
    (lib,) = [ds for ds in parsed.datasets if ds.type == "lib"]
    assert lib.datasetname == "user.jdoe.test.001.log.lib" and lib.streamname == "LIB"
    assert parsed.rules["useBuild"] == 1


def test_no_input_adds_a_pseudo_input():
    items = [{"type": "constant", "value": "--events 100"}, output_item()]
    parsed = parse_task_params(task_params(jobParameters=items, noInput=True, nEvents=1000, nEventsPerJob=100))
    (pseudo,) = parsed.inputs()
    assert pseudo.type == "pseudo_input" and pseudo.datasetname == "pseudo_dataset" and parsed.no_input


def test_pfn_list_adds_a_pseudo_input_stream_in():
    items = [{"type": "constant", "value": "-i ${IN/L}"}, output_item()]
    parsed = parse_task_params(task_params(jobParameters=items, pfnList=["root://a/f1.root", "root://a/f2.root"]))
    (pseudo,) = parsed.inputs()
    assert pseudo.type == "pseudo_input" and pseudo.streamname == "IN"
    assert parsed.pfn_list == ("root://a/f1.root", "root://a/f2.root") and parsed.rules["pfnList"] == 1


def test_load_task_params_reads_the_stored_json():
    assert load_task_params(json.dumps(task_params()))["taskName"] == "user.jdoe.test.001/"


# --- validation: every refusal names the problem -------------------------------------------


@pytest.mark.parametrize(
    ("key", "match"),
    [("taskName", "taskName is required"), ("jobParameters", "jobParameters is required"), ("log", "log is required")],
)
def test_a_missing_required_key_is_refused(key, match):
    refused(without(key), match)


def test_a_missing_user_name_is_refused():
    refused(without("userName"), "userName is required")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"taskName": 5}, "taskName must be a string"),
        ({"taskName": "x" * 256}, "taskName is longer than 255"),
        ({"coreCount": "many"}, "coreCount must be an integer"),
        ({"coreCount": 1.5}, "coreCount must be an integer"),
        ({"coreCount": True}, "coreCount must be an integer"),
        ({"ramCount": [1]}, "ramCount must be an integer"),
        ({"cpuTime": "fast", "cpuTimeUnit": "HS06sPerEvent"}, "cpuTime must be a number"),
        ({"noInput": "maybe"}, "noInput must be a boolean"),
        ({"jobParameters": "-i x"}, "jobParameters must be a non-empty list"),
        ({"jobParameters": []}, "jobParameters must be a non-empty list"),
        ({"jobParameters": ["-i x"]}, r"jobParameters\[0\] must be an object"),
        ({"log": "log.tgz"}, "log must be an object"),
        ({"site": "ANALY_(["}, "not a valid queue name or pattern"),
    ],
)
def test_wrong_types_are_refused(overrides, match):
    refused(task_params(**overrides), match)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"coreCount": -1}, "coreCount must be at least 0"),
        ({"ramCount": -100}, "ramCount must be at least 0"),
        ({"walltime": -5}, "walltime must be at least 0"),
        ({"outDiskCount": -1}, "outDiskCount must be a number of at least 0"),
        ({"nFilesPerJob": 0}, "nFilesPerJob must be at least 1"),
        ({"nEventsPerJob": 0}, "nEventsPerJob must be at least 1"),
        ({"maxAttempt": 0}, "maxAttempt must be at least 1"),
        ({"cpuEfficiency": 150}, "cpuEfficiency is a percentage"),
        ({"goal": 150}, "goal is a percentage"),
        ({"ramCountUnit": "GB"}, "ramCountUnit must be one of"),
        ({"coreCount": 16, "maxCoreCount": 8}, r"coreCount \(16\) is larger than maxCoreCount \(8\)"),
        ({"walltime": 9000, "maxWalltime": 3600}, r"walltime \(9000\) is larger than maxWalltime"),
        ({"nFilesPerJob": 20, "nMaxFilesPerJob": 10}, r"nFilesPerJob \(20\) is larger than nMaxFilesPerJob"),
        ({"cpuTime": 10}, "cpuTime needs cpuTimeUnit"),
        ({"noInput": True}, "noInput task needs nEvents or nFiles"),
    ],
)
def test_negative_or_impossible_resources_are_refused(overrides, match):
    refused(task_params(**overrides), match)


def test_an_unknown_placeholder_is_refused():
    refused(
        with_items(input_item(), {"type": "constant", "value": "--x=${NOPE}"}, output_item()),
        r"\$\{NOPE\}: unknown placeholder NOPE",
    )


def test_a_placeholder_naming_a_stream_the_task_does_not_declare_is_refused():
    refused(
        with_items(input_item(), {"type": "constant", "value": "--db=${DBR/L}"}, output_item()),
        "unknown placeholder DBR",
    )
    refused(
        with_items(input_item(), {"type": "constant", "value": "--o=${OUTPUT3}"}, output_item()),
        "unknown placeholder OUTPUT3",
    )


def test_a_malformed_placeholder_modifier_is_refused():
    refused(with_items(input_item(value="-i ${IN/Q}"), output_item()), "unknown modifier /Q")


def test_a_secondary_input_without_placeholder_is_refused():
    refused(with_items(input_item(), input_item(dataset="mc23.X.1", value="--db"), output_item()), "secondary input")


def test_an_input_stream_declared_twice_is_refused():
    refused(with_items(input_item(), input_item(dataset="mc23.X.1"), output_item()), "declared twice")


def test_an_item_without_dataset_or_with_a_bad_type_is_refused():
    refused(with_items(input_item(dataset=""), output_item()), r"jobParameters\[0\]: dataset is required")
    refused(with_items({"type": "weird", "value": "x"}, input_item(), output_item()), "type must be constant or")
    refused(
        with_items({"type": "template", "param_type": "bogus", "value": "x"}, input_item(), output_item()),
        "param_type must be input, output, log or number",
    )


def test_an_output_template_with_a_per_job_placeholder_is_refused():
    refused(with_items(input_item(), output_item(value="out=X.${RNDMSEED}.root")), "not allowed in an output file name")


def test_a_bad_dataset_name_is_refused():
    refused(with_items(input_item(dataset="bad name"), output_item()), "invalid data identifier")


def test_a_task_without_any_input_is_refused():
    refused(with_items({"type": "constant", "value": "-x"}, output_item()), "the task has no input")


def test_a_bad_pfn_list_is_refused():
    refused(task_params(pfnList="root://a/f1.root"), "pfnList must be a non-empty list")
    refused(task_params(pfnList=[]), "pfnList must be a non-empty list")


def test_a_log_without_dataset_is_refused():
    refused(
        task_params(log={"type": "template", "param_type": "log", "value": "x.log.tgz"}), "log: dataset is required"
    )


def test_the_parameters_must_be_an_object_and_valid_json():
    with pytest.raises(TaskParamError, match="must be a JSON object"):
        parse_task_params(["not", "a", "map"])
    with pytest.raises(TaskParamError, match="not valid JSON"):
        load_task_params("{bad")
    with pytest.raises(TaskParamError, match="must be a JSON object"):
        load_task_params("[1, 2]")


def test_firstevent_without_events_per_job_is_refused_as_it_could_never_be_filled():
    items = [*task_params()["jobParameters"], {"type": "constant", "value": "--first ${FIRSTEVENT}"}]
    refused(task_params(jobParameters=items), r"\$\{FIRSTEVENT\} needs nEventsPerJob")
    assert (
        "--first ${FIRSTEVENT}"
        in parse_task_params(task_params(jobParameters=items, nEventsPerJob=100)).jobparams_template
    )


def test_seqnumber_without_no_input_is_refused_as_only_no_input_jobs_have_one():
    items = [*task_params()["jobParameters"], {"type": "constant", "value": "--seq ${SEQNUMBER/M[#*10]}"}]
    refused(task_params(jobParameters=items), r"\$\{SEQNUMBER/M\[#\*10\]\} needs noInput")
