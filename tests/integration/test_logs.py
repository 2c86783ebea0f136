"""Structured logs: JSON lines, and on each line logged for a job its job, user, workflow and
attempt, as the stack's worker writes them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from heirloom.domain.tiers import Tier
from heirloom.services.ops.logs import JobContext, JsonFormatter, configure_logging
from tests.conftest import Stack
from tests.support import photo_bytes, submit, wait_final


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The root logger also writes JSON lines (as HEIRLOOM_LOG_FORMAT=json) to a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(JobContext())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("heirloom.services.runpod.runs")
    level = logger.level
    logger.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    try:
        yield out
    finally:
        logging.getLogger().removeHandler(handler)
        logger.setLevel(level)


def test_every_line_about_a_job_carries_its_ids(stack: Stack, json_lines: io.StringIO) -> None:
    user_id, key = stack.new_user(tier=Tier.PAID, credits=20)
    with stack.client(key) as client:
        job = wait_final(client, submit(client, photo_bytes(160, 120)).json()["id"])
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    about_job = [line for line in lines if line.get("job_id") == job["id"]]
    assert about_job, lines
    recorded = [line for line in about_job if line["message"].startswith("model attempt")]
    assert len(recorded) == 1
    for line in about_job:
        assert line["user_id"] == user_id
        assert line["workflow_id"] == job["id"]
        assert line["attempt"] == 1
        assert line["level"] == "info"
        assert line["ts"].endswith("+00:00")


def test_human_logs_name_the_job_and_json_logs_are_one_object_a_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("json")
        logging.getLogger("heirloom.test").warning("a %s line", "plain", extra={"job_id": "j1"})
        (line,) = capsys.readouterr().err.splitlines()
        assert json.loads(line) | {"ts": None} == {
            "ts": None,
            "level": "warning",
            "logger": "heirloom.test",
            "message": "a plain line",
            "job_id": "j1",
        }
        configure_logging("human")
        logging.getLogger("heirloom.test").warning("about a job", extra={"job_id": "j2"})
        assert (
            capsys.readouterr()
            .err.rstrip()
            .endswith("heirloom.test: about a job [job j2 attempt ?]")
        )
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
