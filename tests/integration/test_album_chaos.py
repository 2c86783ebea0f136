"""An album survives its worker: the worker process SIGKILLed twice in the middle of an album,
and every photo still ends exactly once, its model run once, and the ledger exact."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlmodel import col, func, select
from temporalio.client import Client

from heirloom.config import FaultSettings
from heirloom.db.models import CreditEntry, Job
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.starters.albums import AlbumSubmitter, AlbumUpload
from tests.conftest import CHAOS_NAMESPACE
from tests.harness.chaos import chaos_settings
from tests.harness.stack import running_stack
from tests.harness.workers import WorkerProcess, wait_polled
from tests.support import photo_bytes

PHOTOS = 12
PRICE = 2  # restore
DEADLINE_S = 240.0


class _Photo:
    """What the album's starter reads of an upload: its bytes, once."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, size: int = -1) -> bytes:
        return self._data if size < 0 else self._data[:size]


def _statuses(services: Services, album_id: str) -> Counter[str]:
    with services.db.session() as session:
        rows = session.exec(select(Job.status).where(col(Job.album_id) == album_id)).all()
    return Counter(rows)


async def _until(check: object, what: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):  # type: ignore[arg-type]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_album_loses_nothing_and_settles_every_photo_once(
    temporal_server: TemporalDevServer, tmp_path: Path
) -> None:
    async def scenario() -> None:
        started = time.monotonic()
        deadline = started + DEADLINE_S
        with running_stack(
            tmp_path,
            f"sqlite:///{tmp_path / 'album-chaos.db'}",
            temporal_server.address,
            CHAOS_NAMESPACE,
            runpod_key="album-chaos-key",
            endpoint={"devstack_runpod_workers": 2, "faults": FaultSettings(execution_ms=500)},
            worker=None,
            api=False,
            album_parallel_jobs=4,
            **chaos_settings(),
        ) as stack:
            services = stack.services
            credits = PRICE * PHOTOS
            user = services.accounts.create(
                email=f"album-chaos-{time.time_ns()}@example.com", tier=Tier.PAID, credits=credits
            ).user
            client = await Client.connect(temporal_server.address, namespace=CHAOS_NAMESPACE)
            worker = WorkerProcess(stack.settings, tmp_path / "worker.log")
            worker.start()
            try:
                async with asyncio.timeout(DEADLINE_S):
                    await wait_polled(client, [Tier.PAID])
                uploads = [
                    AlbumUpload(
                        name=f"p{n}.jpg", size=None, data=_Photo(photo_bytes(64, 48, seed=n))
                    )
                    for n in range(PHOTOS)
                ]
                album = await AlbumSubmitter(services, client).submit(user, uploads, "restore")
                # Twice: once after the first photos ended, once with later ones on the GPU.
                at_kill: list[int] = []
                for ended in (2, 6):
                    await _until(
                        lambda n=ended: _statuses(services, album.id)["completed"] >= n,
                        f"{ended} photos to complete",
                        deadline,
                    )
                    worker.kill()
                    at_kill.append(_statuses(services, album.id)["completed"])
                    worker.start()
                await _until(
                    lambda: services.albums.get_owned(user.id, album.id).status == "completed",
                    "the album to complete",
                    deadline,
                )
                async with httpx.AsyncClient(base_url=stack.runpod_url, timeout=10) as http:
                    stats = (await http.get("/_admin/stats")).json()
            finally:
                worker.stop()
            # Both kills landed in the middle of the album.
            assert all(n < PHOTOS for n in at_kill), at_kill
            jobs = services.albums.jobs(album.id)
            assert Counter(job.status for job in jobs) == {"completed": PHOTOS}
            executed: dict[str, int] = stats["model_executions_by_ref"]
            assert {job.id: executed.get(job.id, 0) for job in jobs} == {job.id: 1 for job in jobs}
            with services.db.session() as session:
                reserves = session.exec(
                    select(CreditEntry.job_id, func.count())
                    .where(
                        CreditEntry.kind == "reserve",
                        col(CreditEntry.job_id).in_([job.id for job in jobs]),
                    )
                    .group_by(col(CreditEntry.job_id))
                ).all()
            assert sorted(n for _, n in reserves) == [1] * PHOTOS
            assert services.credits.balance(user.id) == credits - PRICE * PHOTOS == 0
            assert services.credits.check_consistency([user.id]) == []
            counts = services.albums.counts(album.id)
            assert counts["completed"] == PHOTOS

    asyncio.run(scenario())
