#!/usr/bin/env bash
# Quick start (`make demo`): install, migrate, load the demo grid, then run in the foreground
#   - gunicorn (pandaweb.wsgi, 2 workers) on 127.0.0.1:$PANDA_PORT (default 8000),
#   - one Celery worker with embedded beat (the periodic agents) on the configured broker,
#   - the demo-tasks loop that submits small production tasks (one single-core, one multi-core) whenever
#     the previous one has ended; the JEDI agents of the beat turn them into jobs on DEMO_QUEUE(_MCORE),
#   - Harvester (harvester/demo.toml), which starts real pilots on this machine for those jobs.
# With no environment everything runs on var/panda.sqlite3 and the filesystem broker under var/.
# Ctrl-C (or SIGTERM to this script) stops exactly the processes started here, by pid; Harvester
# kills its pilots before it exits.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${PANDA_PORT:-8000}
host=127.0.0.1
interval=${PANDA_DEMO_INTERVAL:-30}
url="http://$host:$port"
py=.venv/bin/python
export PYTHONUNBUFFERED=1
# No nginx in front here: let Django serve the collected static files (the admin's CSS).
export PANDA_SERVE_STATIC=${PANDA_SERVE_STATIC:-true}
# The development provider's account siteadmin (group atlas/admin) may use the Django admin.
export PANDA_ADMIN_GROUPS=${PANDA_ADMIN_GROUPS:-atlas/admin}
export PANDA_SUPERUSER_GROUPS=${PANDA_SUPERUSER_GROUPS:-atlas/admin}
# The Adder finalises the jobs the pilots report; every 20 s (not 240) so demo jobs finish promptly.
export PANDA_BEAT_RUN_ADDER=${PANDA_BEAT_RUN_ADDER:-20}
# Identity: the development OIDC provider under $url/idp (never in production). Harvester and its pilots
# get robot tokens from it, people log in there (demo accounts alice, bob, prodmgr).
export PANDA_DEVIDP_ENABLED=${PANDA_DEVIDP_ENABLED:-true}
export PANDA_DEVIDP_ISSUER=${PANDA_DEVIDP_ISSUER:-$url/idp}

bash scripts/install.sh

if ! "$py" -c "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$host', $port))" 2>/dev/null; then
    echo "port $port on $host is in use or invalid; choose another one, e.g. PANDA_PORT=8765 make demo" >&2
    exit 1
fi

var_dir=$("$py" -c 'import os; os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pandaweb.settings")
from django.conf import settings; print(settings.VAR_DIR.resolve())')
# Harvester's robot token (production role), written and renewed by Harvester itself.
token_file="$var_dir/harvester/token"
# The demo transformation (run_demo.sh, installed by demo_tasks) is served from here as /trf/demo/.
export PANDA_TRF_DIR=${PANDA_TRF_DIR:-$var_dir/trf}

database=${DATABASE_URL:-sqlite: $var_dir/panda.sqlite3}
echo "==> migrating ($(echo "$database" | sed -E 's#//[^@/]*@#//***@#'))"
"$py" manage.py migrate --noinput
echo "==> loading the demo grid"
"$py" manage.py load_demo_grid
echo "==> setting up the development identity provider"
"$py" manage.py devidp_setup
echo "==> collecting static files"
"$py" manage.py collectstatic --noinput --verbosity 0

pids=()
stopping=0

harvester_pid=""

stop_all() {
    # Runs once, on Ctrl-C, SIGTERM, a child that exits, or any error.
    [ "$stopping" = 1 ] && return
    stopping=1
    trap - INT TERM
    [ ${#pids[@]} -eq 0 ] && return
    echo
    echo "==> stopping (pids ${pids[*]})"
    # Harvester first, while the server can still take the pilots' last words: it kills its pilots
    # (SIGTERM, SIGKILL after kill_grace_seconds) and reports them before it exits.
    if [ -n "$harvester_pid" ] && kill -TERM "$harvester_pid" 2>/dev/null; then
        echo "==> Harvester (pid $harvester_pid) is stopping its pilots"
        for _ in $(seq 1 125); do
            kill -0 "$harvester_pid" 2>/dev/null || break
            sleep 0.2
        done
    fi
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    # gunicorn and Celery stop their own worker processes on TERM; give them time for that.
    # (Celery's warm shutdown with embedded beat takes several seconds on the filesystem broker.)
    for _ in $(seq 1 150); do
        alive=0
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            echo "==> pid $pid did not stop in 30 s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    wait 2>/dev/null || true
    echo "==> stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

# No control socket: its default path is shared by every gunicorn of the user (~/.gunicorn).
.venv/bin/gunicorn pandaweb.wsgi --worker-class pandaweb.http_worker.ApiWorker --bind "$host:$port" --workers 2 \
    --access-logfile - --no-control-socket &
pids+=($!)
.venv/bin/celery -A pandaweb worker -B --concurrency 1 --loglevel INFO --hostname "panda-demo@%h" &
pids+=($!)
"$py" manage.py demo_tasks --interval "$interval" --server-url "$url" &
pids+=($!)
# Pilots run "$PWD/.venv/bin/python -m pilot" with Harvester's token; its log and the pilots' output
# (pilot.stdout in each worker's directory) are under $var_dir.
PANDA_PORT="$port" PANDA_VAR_DIR="$var_dir" PANDA_PILOT_PYTHON="$PWD/.venv/bin/python" \
    "$py" -m harvester run -c harvester/demo.toml --log-file "$var_dir/harvester.log" &
harvester_pid=$!
pids+=($!)

# Announce the URL only once the server answers (or give up if gunicorn died, e.g. port taken).
for _ in $(seq 1 150); do
    if "$py" -c "import urllib.request, sys; urllib.request.urlopen('$url/server/panda/isAlive', timeout=2)" 2>/dev/null
    then
        cat <<EOT

==> PanDA server is up: $url
      $url/server/panda/isAlive                     legacy API liveness
      $url/api/v1/system/is_alive                   v1 API liveness
      $url/cache/schedconfig/DEMO_QUEUE.all.json    queue document for pilots
      $url/                                         the monitor: tasks, jobs, errors, queues ("Log in" as alice,
                                                    bob or prodmgr through the development identity provider)
      $url/admin/                                   admin for site administrators (log in as siteadmin)
      $url/idp/.well-known/openid-configuration     development identity provider (alice, bob, prodmgr, siteadmin)
    Harvester's token (robot, production role): $token_file
    Fetch a job:  curl -H "Authorization: Bearer \$(cat $token_file)" -H "Origin: atlas.production" \\
                    -d siteName=DEMO_QUEUE $url/server/panda/getJob
    A person's ID token (alice, bob or prodmgr; send it with Origin: atlas):
      PANDA_VAR_DIR=$var_dir PANDA_DEVIDP_ISSUER=$PANDA_DEVIDP_ISSUER $py manage.py devidp_token --user alice --output alice.token
    Harvester log: $var_dir/harvester.log
    Pilots:        $var_dir/harvester/workers/<worker id>/pilot.stdout
    Storage (SE):  $var_dir/demo-se
    Tasks go registered -> defined -> ready -> running -> prepared -> done in a couple of minutes
    (TaskRefiner, ContentsFeeder, JobGenerator, then Harvester's pilots run the jobs, the Adder,
    feedback and PostProcessor finish them); every demo_tasks line below names the tasks it submitted
    and counts the demo tasks and jobs by status. Watch one task (<id> = a jediTaskID from those lines):
      curl -H "Authorization: Bearer \$(cat $token_file)" -H "Origin: atlas.production" "$url/api/v1/task/get_status?task_id=<id>"
      curl -H "Authorization: Bearer \$(cat $token_file)" -H "Origin: atlas.production" "$url/api/v1/task/get_details?task_id=<id>&include_status=true"
      $url/tasks/                                    the tasks in the monitor; click one for its jobs, plots and logs
    Press Ctrl-C to stop (or: kill $$).

EOT
        break
    fi
    kill -0 "${pids[0]}" 2>/dev/null || break
    sleep 0.2
done

# Stay in the foreground until a signal arrives or any of the four exits on its own.
status=0
wait -n "${pids[@]}" || status=$?
if [ "$stopping" = 0 ]; then
    echo "==> a demo process exited (status $status); stopping the others"
    stop_all
    exit $((status == 0 ? 1 : status))
fi
