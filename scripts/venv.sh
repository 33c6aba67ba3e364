# Shared by run.sh and test.sh: make .venv and (re)install when pyproject.toml changed.
# PYTHON picks the interpreter that creates it (default python3; e.g. PYTHON=python3.12 ./run.sh).
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

# Python 3.11 or newer, before anything is created: an older one would fail later, less clearly.
check_python() {
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "$PYTHON was not found: install Python 3.11 or newer (Debian/Ubuntu: sudo apt-get install python3 python3-venv)." >&2
        exit 1
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
        found=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "unknown")
        echo "Python 3.11 or newer is needed, but $PYTHON is $found: install a newer one (Debian/Ubuntu: sudo apt-get install python3.11 python3.11-venv) and run again with PYTHON=python3.11." >&2
        exit 1
    fi
}

ensure_venv() {
    extras="$1"
    stamp="$VENV/.installed$(echo "$extras" | tr -d '[]')"
    want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
        return 0
    fi
    # A .venv left half-made (python3-venv was missing, so it has no pip) is made again.
    if [ -e "$VENV" ] && ! "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1; then
        echo "$VENV is incomplete (no working pip inside it); making it again…" >&2
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        check_python
        echo "Creating $VENV…" >&2
        if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1 || ! "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1; then
            rm -rf "$VENV"
            echo "Could not create $VENV: Python's venv module (with ensurepip) is missing. Install it (Debian/Ubuntu: sudo apt-get install python3-venv), then run this again." >&2
            exit 1
        fi
    fi
    echo "Installing dependencies into $VENV…" >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".$extras"
    echo "$want" > "$stamp"
}
