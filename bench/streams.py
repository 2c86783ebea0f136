"""Live-status benchmark: many open SSE streams on one API process while job rows change.

Run from the repository root: python bench/streams.py [--streams 1000] [--seconds 10]

One API process (uvicorn in a thread, the app as shipped, on SQLite) serves --streams
concurrent `GET /v1/jobs/{id}/events` streams, five per job; a writer changes the jobs' rows
through JobStore.set_progress (the call the model step makes) at --rate changes/s on its own
connection pool. Measured over the steady state, after every stream has its snapshot:
- database statements per second issued by the API process (its engine's cursor executions),
  which should not grow with the number of streams;
- latency from a row change's commit to its event at the client, p50/p95.
The same run is repeated with 10 streams as the baseline. Temporal is not needed by streams:
the API gets a lazy client that never connects. Writes bench/results/streams.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from temporalio.client import Client

# First: it puts the repository root on sys.path, for tests.harness.
import harness

# isort: split
from tests.harness.serving import serve_app

from heirloom.api.app import create_app
from heirloom.config import Settings
from heirloom.db import migrate
from heirloom.domain.jobs import Stage
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.money.credits import NewJob

STREAMS_PER_JOB = 5


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _seed(services: Services, jobs: int) -> tuple[str, list[str]]:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    created = services.accounts.create(email=email, tier=Tier.PAID, credits=10 * jobs)
    ids = []
    for _ in range(jobs):
        job_id = uuid.uuid4().hex
        services.credits.reserve(
            NewJob(
                job_id=job_id,
                user_id=created.user.id,
                operations="restore",
                tier=Tier.PAID,
                original_key=f"bench/{job_id}.jpg",
                idempotency_key=None,
                request_hash=None,
                retry_of=None,
            )
        )
        services.jobs.set_stage(job_id, Stage.PROCESSING)
        ids.append(job_id)
    return created.api_key, ids


async def _stream(
    client: httpx.AsyncClient,
    job_id: str,
    connected: asyncio.Event,
    counter: list[int],
    target: int,
    received: list[tuple[str, int, float]],
) -> None:
    async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            body = json.loads(line[5:])
            if body["type"] == "snapshot":
                counter[0] += 1
                if counter[0] == target:
                    connected.set()
                continue
            received.append((job_id, body["job"]["progress"], time.monotonic()))


def _write(
    services: Services, ids: list[str], rate: float, stop: threading.Event
) -> dict[tuple[str, int], float]:
    """Raise each job's progress in turn at `rate` changes/s; the commit time of each."""
    committed: dict[tuple[str, int], float] = {}
    progress = dict.fromkeys(ids, Stage.PROCESSING.progress)
    pause, turn = 1 / rate, 0
    while not stop.is_set():
        job_id = ids[turn % len(ids)]
        turn += 1
        progress[job_id] = min(progress[job_id] + 1, Stage.POSTPROCESSING.progress)
        services.jobs.set_progress(job_id, progress[job_id])
        committed[(job_id, progress[job_id])] = time.monotonic()
        stop.wait(pause)
    return committed


async def _run(streams: int, jobs: int, seconds: float, rate: float, home: Path) -> dict[str, Any]:
    database_url = f"sqlite:///{home / f'streams-{streams}.db'}"
    migrate.upgrade(database_url)
    # One user holds every job in progress: more than the paid tier's caps allow.
    uncapped = {"max_active_jobs": None, "daily_job_limit": None}
    settings = Settings(home=home, database_url=database_url, tier_rules={"paid": uncapped})
    api_services = Services.build(settings, pool_size=20)
    writer_services = Services.build(settings, pool_size=4)
    key, ids = _seed(writer_services, jobs)
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    sa.event.listen(api_services.db.engine, "before_cursor_execute", count)
    temporal = await Client.connect(settings.temporal_address, lazy=True)
    app = create_app(settings, services=api_services, temporal=temporal)
    received: list[tuple[str, int, float]] = []
    with serve_app(app) as url:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {key}"},
            limits=limits,
            timeout=httpx.Timeout(60, read=None),
        ) as client:
            connected, counter = asyncio.Event(), [0]
            tasks = [
                asyncio.create_task(
                    _stream(
                        client, ids[i // STREAMS_PER_JOB], connected, counter, streams, received
                    )
                )
                for i in range(streams)
            ]
            await asyncio.wait_for(connected.wait(), timeout=300)
            stop = threading.Event()
            before, started = statements[0], time.monotonic()
            writer = asyncio.create_task(
                asyncio.to_thread(_write, writer_services, ids, rate, stop)
            )
            await asyncio.sleep(seconds)
            stop.set()
            committed = await writer
            elapsed = time.monotonic() - started
            api_statements = statements[0] - before
            await asyncio.sleep(1)  # the last changes reach their streams
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    api_services.close()
    writer_services.close()
    latencies = [
        (at - committed[(job_id, progress)]) * 1000
        for job_id, progress, at in received
        if (job_id, progress) in committed
    ]
    return {
        "streams": streams,
        "changes": len(committed),
        "events_delivered": len(latencies),
        "api_db_statements_per_s": round(api_statements / elapsed, 1),
        "latency_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "latency_p95_ms": round(_percentile(latencies, 0.95), 1),
        "poll_interval_s": settings.stream_poll_interval_s,
    }


def main() -> None:
    # Migrations configure logging; a thousand request lines would bury the figures.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=50.0, help="job row changes per second")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="heirloom-streams-") as tmp:
        # The same jobs and changes in both runs; only the number of open streams differs.
        jobs = max(1, args.streams // STREAMS_PER_JOB)
        for streams in (10, args.streams):
            result = asyncio.run(_run(streams, jobs, args.seconds, args.rate, Path(tmp)))
            results.append(result)
            print(json.dumps(result))
    out = harness.RESULTS_DIR / "streams.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
