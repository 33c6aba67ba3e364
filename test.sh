#!/usr/bin/env sh
# Run the tests: creates .venv and installs the bot with its test tools on first use, then runs
# ruff and pytest. Extra arguments go to pytest (e.g. ./test.sh -k generate).
set -eu
cd "$(dirname "$0")"
. ./scripts/venv.sh
ensure_venv "[test]"
"$VENV/bin/ruff" check bot cogs tests bench
"$VENV/bin/ruff" format --check bot cogs tests bench
exec "$VENV/bin/python" -m pytest "$@"
