# The Heirloom API, worker and migration image; docker-compose.yml picks the command.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install '.[postgres]'


FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HEIRLOOM_HOME=/home/heirloom/.heirloom \
    HEIRLOOM_API_HOST=0.0.0.0 \
    HEIRLOOM_API_PORT=8000

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/heirloom heirloom
COPY --from=build /opt/venv /opt/venv

USER heirloom
WORKDIR /home/heirloom
EXPOSE 8000

ENTRYPOINT ["heirloom"]
CMD ["api"]
