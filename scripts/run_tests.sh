#!/usr/bin/env bash
# The whole test suite: lint, then pytest. Extra arguments go to pytest (e.g. -k getjob, -x).
#   No environment: SQLite (an in-memory test database) and no broker server.
#   DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://... run it on PostgreSQL and Redis,
#   which also enables the tests marked postgres and broker.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh

# Credentials in the URLs are masked in the log.
mask() { sed -E 's#//[^@/]*@#//***@#'; }
echo "==> database: $(echo "${DATABASE_URL:-sqlite (default)}" | mask)" \
     "  broker: $(echo "${CELERY_BROKER_URL:-filesystem:// (default)}" | mask)"
# Both always run, so a lint error does not hide the test results; either one failing fails the run.
echo "==> ruff check"
lint=0
.venv/bin/ruff check . || lint=$?
echo "==> pytest"
tests=0
# pytest exits 5 when it collected no tests: that is a failure too.
.venv/bin/python -m pytest -q "$@" || tests=$?
if [ "$lint" -ne 0 ] || [ "$tests" -ne 0 ]; then
    echo "==> FAILED (ruff exit $lint, pytest exit $tests)"
    exit 1
fi
echo "==> passed (ruff and pytest)"
