# Shared by run.sh and test.sh: make .venv and (re)install when pyproject.toml changed.
VENV="${VENV:-.venv}"

ensure_venv() {
    extras="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        echo "Creating $VENV…" >&2
        python3 -m venv "$VENV"
    fi
    stamp="$VENV/.installed$(echo "$extras" | tr -d '[]')"
    want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "Installing dependencies into $VENV…" >&2
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".$extras"
        echo "$want" > "$stamp"
    fi
}
