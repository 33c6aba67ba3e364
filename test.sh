#!/usr/bin/env sh
# Run the tests: creates .venv and installs the bot with its test tools on first use, then runs
# ruff and pytest. Extra arguments go to pytest (e.g. ./test.sh -k generate).
set -eu
cd "$(dirname "$0")"
. ./scripts/venv.sh
ensure_venv "[test]"
# The tests start a throwaway PostgreSQL from Debian's packages (tests/postgres.py); install them on a
# fresh machine. TEST_POSTGRES_URL (a server you run) makes that unnecessary.
if [ -z "${TEST_POSTGRES_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    && ! command -v initdb >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing PostgreSQL for the tests…" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "PostgreSQL is missing: install it (apt-get install postgresql) or set TEST_POSTGRES_URL" >&2
        exit 1
    fi
fi
# The web gallery's browser tests drive Debian's Chromium (tests/web/test_browser.py).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Chromium for the browser tests…" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
"$VENV/bin/ruff" check bot cogs tests bench
"$VENV/bin/ruff" format --check bot cogs tests bench
# Three workers (pytest-xdist) even on two cores: most tests wait on sockets, subprocesses and
# timers rather than compute, so the suite takes about a third of the time. TEST_WORKERS=0 runs in
# this process (for pdb, or to watch one test's output); a later -n in the arguments wins too.
exec "$VENV/bin/python" -m pytest -n "${TEST_WORKERS:-3}" "$@"
