#!/bin/bash
# The quick start's transformation (manage.py demo_jobs), served as /trf/demo/run_demo.sh.
# It takes a Sim_tf.py command line and does what a transform does, minus the physics: checks that
# every --input<TYPE>File is readable, "simulates" --maxEvents events (20 a second), writes every
# --output<TYPE>File and a jobReport.json. Any other option is accepted and ignored.
set -u
inputs=()
outputs=()
events=100
for arg in "$@"; do
    case "$arg" in
        --input*File=*) IFS=, read -r -a names <<<"${arg#*=}" && inputs+=("${names[@]}") ;;
        --output*File=*) IFS=, read -r -a names <<<"${arg#*=}" && outputs+=("${names[@]}") ;;
        --maxEvents=*) events=${arg#*=} ;;
    esac
done
echo "run_demo.sh: PandaID ${PandaID:-?} in $PWD, ${#inputs[@]} input(s), ${#outputs[@]} output(s), $events events"
for name in "${inputs[@]}"; do
    if [ ! -r "$name" ]; then
        echo "run_demo.sh: missing input $name" >&2
        exit 66
    fi
    echo "run_demo.sh: read $name ($(wc -c <"$name") bytes)"
done
for ((done_events = 20; done_events <= events; done_events += 20)); do
    sleep 1
    echo "run_demo.sh: event $done_events/$events"
done
for name in "${outputs[@]}"; do
    {
        echo "demo HITS of PandaID ${PandaID:-?}: $events events from ${inputs[*]}"
        cat "${inputs[@]}" /dev/null | head -c 65536
    } >"$name"
    echo "run_demo.sh: wrote $name ($(wc -c <"$name") bytes)"
done
entries=""
for name in "${outputs[@]}"; do
    entries="$entries${entries:+, }{\"subFiles\": [{\"name\": \"$name\", \"nentries\": $events}]}"
done
cat >jobReport.json <<REPORT
{"exitCode": 0, "exitMsg": "OK", "files": {"output": [$entries]}}
REPORT
echo "run_demo.sh: done"
