"""The Docker and Compose files as an owner runs them (issue 20, items 9 and 10). No Docker daemon is
needed: the HEALTHCHECK's own command runs here, and the Compose and nginx files are read as text."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.cli_helpers import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = (ROOT / "deploy" / "compose.yaml").read_text()
NGINX = (ROOT / "deploy" / "nginx.conf").read_text()
README = (ROOT / "README.md").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()


def healthcheck_code() -> str:
    match = re.search(r'HEALTHCHECK [^\n]*\\\n\s*CMD python -c "(.+)"\n', DOCKERFILE)
    assert match, "the HEALTHCHECK runs python -c"
    return match.group(1)


@pytest.mark.parametrize(
    ("port", "expected"),
    [("", "8080"), ("9000", "9000"), ('"9000"  # the listener', "9000"), (None, "8080")],
)
def test_the_healthcheck_probes_the_port_the_bot_listens_on(port: str | None, expected: str) -> None:
    """Item 9: an empty `WEBHOOK_PORT=` (or a quoted, commented one) probes what the bot binds, not port 80."""
    probe = "import urllib.request\nurllib.request.urlopen = lambda url, timeout: print(url)\n"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    if port is not None:
        env["WEBHOOK_PORT"] = port
    result = subprocess.run(
        [sys.executable, "-c", probe + healthcheck_code()], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"http://127.0.0.1:{expected}/healthz"


def test_the_readme_checks_a_callback_mode_container_from_inside_it() -> None:
    """Item 9: a second container cannot prove the first one's listener; `docker exec` can."""
    assert "docker exec producer-bot python -m bot check" in README
    assert "docker run --rm --env-file .env -v producer-bot-data:/app/data producer-bot check" in README


def test_compose_passes_the_postgres_password_without_encoding_and_requires_it() -> None:
    """Item 10: POSTGRES_PASSWORD is documented, required, and never pasted into a URL."""
    assert "POSTGRES_PASSWORD" in ENV_EXAMPLE and "POSTGRES_PASSWORD" in README
    assert "change-me" not in COMPOSE
    urls = re.findall(r"DATABASE_URL: (\S+)", COMPOSE)
    assert urls and all("@" in url and ":" not in url.split("://")[1].split("@")[0] for url in urls), urls
    assert "PGPASSWORD: ${POSTGRES_PASSWORD:?" in COMPOSE
    assert "--env-file .env -f deploy/compose.yaml" in COMPOSE and "--env-file .env -f deploy/compose.yaml" in README


def test_compose_probes_postgres_over_tcp_and_builds_the_image_once() -> None:
    """Item 10: `pg_isready` over the socket says ready during first-start initialisation; one build."""
    assert "pg_isready -h 127.0.0.1 " in COMPOSE
    assert COMPOSE.count("build:") == 1
    assert COMPOSE.count("image: producer-discord-bot:local") == 1  # in the anchor both bots share


def test_nginx_re_resolves_the_bots_and_keeps_callback_secrets_out_of_its_logs() -> None:
    """Item 10: Docker's resolver, re-asked, so a recreated bot is found; no log line with a request path."""
    assert re.search(r"^resolver 127\.0\.0\.11 valid=\d+s", NGINX, re.MULTILINE)
    servers = re.findall(r"^\s*server (bot-\d:8080)[^;]*\bresolve;", NGINX, re.MULTILINE)
    assert servers == ["bot-0:8080", "bot-1:8080"]
    assert "zone musicbot" in NGINX
    assert "access_log off;" in NGINX and "error_log /dev/stderr crit;" in NGINX


# -- item 12: documents that agree with the code ---------------------------------------------------


def test_the_readme_names_every_route_of_the_listener() -> None:
    """`/metrics` is served on the listener too (METRICS=true without METRICS_PORT)."""
    sentence = README[README.index("Only `/callbacks/`") :].split(" exist")[0]
    assert "`/healthz`" in sentence and "`/metrics`" in sentence


STORAGE_MODULES = ("base", "cluster", "community", "database", "favourites", "features", "group_commit")
STORAGE_MODULES += ("models", "outbox", "postgres", "queue", "repository", "songs", "sqlite", "tasks")
STORAGE_MODULES += ("billing", "contests", "finish", "playlists", "status_lines", "web")


def test_the_code_layout_names_the_storage_modules() -> None:
    layout = README[README.index("bot/storage/ ") :].split("bot/core/")[0]
    named = set(re.findall(r"\b(\w+)(?:\.py)?\b", layout))
    missing = [module for module in STORAGE_MODULES if module not in named and f"{module}.py" not in layout]
    assert missing == []


def test_bench_help_and_readme_agree_on_how_long_quick_takes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "about four minutes on 2 cores" in " ".join(result.stdout.split())
    assert "--quick                # smaller runs, about four minutes on 2 cores" in README
