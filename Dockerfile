# The Heirloom API, worker and migration image; docker-compose.yml picks the command.
# Base: the official Python image, tag 3.11.15-slim (tags listed in
# https://github.com/docker-library/official-images/blob/master/library/python).
FROM python:3.11.15-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
RUN python -m venv /opt/venv

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
COPY pyproject.toml ./
RUN /opt/venv/bin/python -c "import tomllib; \
project = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(project['dependencies'] + project['optional-dependencies']['postgres']))" \
        > requirements.txt \
    && /opt/venv/bin/pip install --requirement requirements.txt

# The package itself; its dependencies are already in place.
COPY README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install --no-deps .


FROM python:3.11.15-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HEIRLOOM_HOME=/home/heirloom/.heirloom \
    HEIRLOOM_API_HOST=0.0.0.0 \
    HEIRLOOM_API_PORT=8000

RUN groupadd --system --gid 10001 heirloom \
    && useradd --system --no-log-init --uid 10001 --gid heirloom --create-home \
        --home-dir /home/heirloom heirloom
COPY --from=build /opt/venv /opt/venv

USER 10001:10001
WORKDIR /home/heirloom
EXPOSE 8000

ENTRYPOINT ["heirloom"]
CMD ["api"]
