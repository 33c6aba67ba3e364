#!/usr/bin/env sh
# Run the bot: creates .venv and installs the bot on first use, then starts it with .env.
set -eu
cd "$(dirname "$0")"
. ./scripts/venv.sh
ensure_venv ""
if [ ! -f .env ]; then
    echo "No .env found: copy .env.example to .env and fill in DISCORD_TOKEN and PRODUCER_API_TOKEN." >&2
    exit 2
fi
exec "$VENV/bin/python" -m bot "$@"
