#!/usr/bin/env sh
# Run the bot: `./run.sh [run | check | backup PATH | --help | --version]`, arguments passed to
# `python -m bot`. Configuration comes from .env or from the environment (systemd, Docker); it is
# looked for before anything is installed. Creates .venv and installs the bot on first use.
set -eu
cd "$(dirname "$0")"
case "${1:-}" in
    -h | --help | --version) ;;
    *)
        if [ ! -f .env ] && { [ -z "${DISCORD_TOKEN:-}" ] || [ -z "${PRODUCER_API_TOKEN:-}" ]; }; then
            echo "No configuration: copy .env.example to .env and fill in DISCORD_TOKEN and PRODUCER_API_TOKEN, or set both in the environment." >&2
            exit 2
        fi
        ;;
esac
. ./scripts/venv.sh
ensure_venv ""
exec "$VENV/bin/python" -m bot "$@"
