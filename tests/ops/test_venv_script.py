"""scripts/venv.sh (behind run.sh and test.sh) on machines that are not ready (issue 20, item 6): an old
Python, a missing venv module, a .venv left half-made. A stand-in `python3` plays each machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.cli_helpers import ROOT

FAKE_PYTHON = r"""#!/bin/sh
# A stand-in interpreter: its version, whether `-m venv` works, and pip installs are logged.
if [ "$1" = "-c" ]; then
    case "$2" in
        *"version_info >="*) [ "${FAKE_VERSION:-3.12}" != "3.9" ]; exit $? ;;
        *print*) echo "${FAKE_VERSION:-3.12}"; exit 0 ;;
        *"import pip"*) [ -f "$(dirname "$0")/../pip-works" ]; exit $? ;;
    esac
fi
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    mkdir -p "$3/bin"
    cp "$0" "$3/bin/python"
    if [ -n "${FAKE_NO_ENSUREPIP:-}" ]; then exit 1; fi
    touch "$3/pip-works"
    exit 0
fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
    echo "pip $*" >> "$PIP_LOG"
    exit 0
fi
exit 3
"""


def machine(tmp_path: Path, **env: str) -> tuple[dict[str, str], Path]:
    """A PATH whose `python3` is the stand-in; returns the environment and the .venv path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python3"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    venv = tmp_path / "venv"
    base = {"PATH": f"{bin_dir}:/usr/bin:/bin", "VENV": str(venv), "PIP_LOG": str(tmp_path / "pip.log")}
    return {**base, **env}, venv


def ensure(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", '. ./scripts/venv.sh && ensure_venv ""'], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_an_old_python_is_named_before_anything_is_created(tmp_path: Path) -> None:
    env, venv = machine(tmp_path, FAKE_VERSION="3.9")
    result = ensure(env)
    assert result.returncode == 1
    assert "Python 3.11 or newer is needed, but python3 is 3.9" in result.stderr
    assert "PYTHON=python3.11" in result.stderr
    assert not venv.exists()


def test_a_missing_venv_module_says_what_to_install_and_leaves_nothing_half_made(tmp_path: Path) -> None:
    env, venv = machine(tmp_path, FAKE_NO_ENSUREPIP="1")
    result = ensure(env)
    assert result.returncode == 1
    assert "sudo apt-get install python3-venv" in result.stderr, result.stderr
    assert not venv.exists()


def test_a_half_made_venv_is_made_again(tmp_path: Path) -> None:
    """What `python3 -m venv` leaves without python3-venv: bin/python but no pip. It is not reused."""
    env, venv = machine(tmp_path)
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\necho 'No module named pip' >&2\nexit 1\n")
    (venv / "bin" / "python").chmod(0o755)
    result = ensure(env)
    assert result.returncode == 0, result.stderr
    assert "is incomplete (no working pip inside it); making it again" in result.stderr
    assert (venv / "pip-works").exists() and (venv / ".installed").exists()
    assert "install --quiet --disable-pip-version-check -e ." in (tmp_path / "pip.log").read_text()
    assert "No module named pip" not in result.stderr
