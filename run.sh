#!/usr/bin/env sh
# Run the bot: `./run.sh [run | check | backup PATH | --help | --version]`, arguments passed to
# `python -m bot`. Configuration comes from .env or from the environment (systemd, Docker); it is
# looked for before anything is installed. Creates .venv and installs the bot on first use.
set -eu
# `backup PATH`: a relative PATH means relative to where you ran this, not to the bot's folder.
if [ "${1:-}" = backup ] && [ $# -ge 2 ]; then
    case "$2" in
        /* | -*) ;;
        *) target="$(pwd)/$2"; shift 2; set -- backup "$target" "$@" ;;
    esac
fi
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
