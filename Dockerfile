# Plain Dockerfile syntax: builds with the classic builder and with BuildKit alike.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, read from pyproject.toml alone: editing the code or the README does not
# reinstall them (only a change to pyproject.toml does).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY LICENSE ./
COPY bot ./bot
COPY cogs ./cogs

RUN useradd --create-home --uid 10001 musicbot && mkdir -p /app/data && chown musicbot /app/data
USER musicbot

ENV DATABASE_PATH=/app/data/bot.db
VOLUME ["/app/data"]
# The webhook listener: callbacks (callback mode only) and /healthz (always).
EXPOSE 8080
# /healthz answers 503 "starting" until every shard is ready (the start period covers that wait),
# then 503 while the gateway is down (past a short grace) or the database fails; urlopen raises on
# any status other than 2xx, so the container turns unhealthy then. WEBHOOK_PORT is read as the bot
# reads it: empty means 8080, and quotes or a trailing comment from an --env-file are dropped.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; from bot.core.settings import unquote; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (unquote(os.environ.get('WEBHOOK_PORT', '')) or '8080'), timeout=4)"

# `docker run IMAGE check`, `docker exec CONTAINER python -m bot backup /app/data/backups`, …
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
