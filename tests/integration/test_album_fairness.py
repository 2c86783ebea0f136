"""One user's 200-photo album does not hold back another user's single photo: the GPU queue's
fairness key is the user, so the photo's model step starts before two model times' worth of the
album's photos (two per GPU) have gone to the GPUs after it reached the queue, however many of
the album's photos wait there. Counted, not timed: a loaded machine slows both alike."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from sqlmodel import col, select
from temporalio.client import Client
from temporalio.service import RPCError

from heirloom.config import FaultSettings
from heirloom.db.models import Job
from heirloom.devstack.temporal_server import TemporalDevServer
from heirloom.domain.albums import album_workflow_id
from heirloom.domain.jobs import Stage
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.starters.albums import AlbumSubmitter, AlbumUpload
from heirloom.starters.restoration import Submitter
from tests.conftest import ALBUMS_NAMESPACE
from tests.harness.stack import running_stack
from tests.support import HangGuard, photo_bytes

ALBUM_PHOTOS = 200
MODEL_S = 1.0
GPUS = 2
DEADLINE_S = 180.0
_WAITING = Stage.WAITING_FOR_GPU.value
_BEFORE_GPU = (Stage.RESERVING.value, Stage.QUEUED.value, Stage.PREPARING.value, _WAITING)


class _Photo:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, size: int = -1) -> bytes:
        return self._data if size < 0 else self._data[:size]


def _stage(services: Services, job_id: str) -> str:
    with services.db.session() as session:
        stage = session.exec(select(Job.stage).where(col(Job.id) == job_id)).one()
    return str(stage)


def _past_gpu_queue(services: Services, album_id: str) -> int:
    """The album's photos that left the GPU queue (their model step started, or later)."""
    with services.db.session() as session:
        rows = session.exec(
            select(Job.id).where(col(Job.album_id) == album_id, col(Job.stage).not_in(_BEFORE_GPU))
        ).all()
    return len(rows)


def _waiting(services: Services, album_id: str) -> int:
    with services.db.session() as session:
        rows = session.exec(
            select(Job.id).where(col(Job.album_id) == album_id, col(Job.stage) == _WAITING)
        ).all()
    return len(rows)


def test_a_single_photo_starts_within_two_model_times_of_gpu_work_behind_a_200_photo_album(
    temporal_server: TemporalDevServer, tmp_path: Path
) -> None:
    async def scenario() -> tuple[int, int]:
        uncapped = {"daily_job_limit": None, "max_active_jobs": None}
        with running_stack(
            tmp_path,
            f"sqlite:///{tmp_path / 'albums.db'}",
            temporal_server.address,
            ALBUMS_NAMESPACE,
            runpod_key="albums-key",
            endpoint={
                "devstack_runpod_workers": GPUS,
                "faults": FaultSettings(execution_ms=int(MODEL_S * 1000)),
            },
            api=False,
            tier_rules={"paid": uncapped},
            worker_gpu_slots=GPUS,
            gpu_pool_size=GPUS,
            # Many of the album's photos in the GPU queue at once: fairness, not the album's
            # own bound, is what lets the single photo through.
            album_parallel_jobs=24,
        ) as stack:
            services = stack.services
            client = await Client.connect(temporal_server.address, namespace=ALBUMS_NAMESPACE)
            heavy = services.accounts.create(
                email=f"album-{time.time_ns()}@example.com", tier=Tier.PAID, credits=1000
            ).user
            light = services.accounts.create(
                email=f"single-{time.time_ns()}@example.com", tier=Tier.PAID, credits=10
            ).user
            uploads = [
                AlbumUpload(name=f"p{n}.jpg", size=None, data=_Photo(photo_bytes(48, 36, seed=n)))
                for n in range(ALBUM_PHOTOS)
            ]
            album = await AlbumSubmitter(services, client).submit(heavy, uploads, "restore")
            try:
                guard = HangGuard("the album's photos and the single photo", DEADLINE_S)
                # The album floods the GPU queue before the single photo arrives.
                while await asyncio.to_thread(_waiting, services, album.id) < 3 * GPUS:
                    guard.check("the album filled the GPU queue")
                    await asyncio.sleep(0.05)
                ahead = await asyncio.to_thread(_waiting, services, album.id)
                counted = await asyncio.to_thread(_past_gpu_queue, services, album.id)
                single = await Submitter(services, client).submit(
                    light,
                    data=photo_bytes(48, 36, seed=999),
                    operations="restore",
                    idempotency_key=None,
                )
                # The album's photos past the GPU queue when the single photo entered it and
                # when its own model step started. The first count is the one taken before the
                # last look that did not see it waiting yet (never too high); the second is
                # taken after it was seen started (never too low).
                at_queue: int | None = None
                while True:
                    counting = await asyncio.to_thread(_past_gpu_queue, services, album.id)
                    stage = await asyncio.to_thread(_stage, services, single.job.id)
                    if stage == _WAITING and at_queue is None:
                        at_queue = counted
                    counted = counting
                    if stage not in _BEFORE_GPU:
                        break
                    guard.check(f"the single photo started (it is {stage})")
                    await asyncio.sleep(0.02)
                at_start = await asyncio.to_thread(_past_gpu_queue, services, album.id)
                assert at_queue is not None, "the single photo's GPU wait was never seen"
                waiting_behind = await asyncio.to_thread(_waiting, services, album.id)
                assert waiting_behind >= GPUS, "the album no longer filled the queue"
                return at_start - at_queue, ahead
            finally:
                await _stop_album(client, services, album.id)

    went_ahead, ahead = asyncio.run(scenario())
    print(
        f"single photo behind {ahead} of the album's photos in the GPU queue: "
        f"{went_ahead} of them went to the GPUs before it ({GPUS} GPUs)"
    )
    # Two model times of the pool's GPUs: the runs that end while it waits, each GPU's next.
    assert went_ahead <= 2 * GPUS, went_ahead


async def _stop_album(client: Client, services: Services, album_id: str) -> None:
    """End the album's run and every photo's, so nothing of it outlives the test."""
    with contextlib.suppress(RPCError):
        await client.get_workflow_handle(album_workflow_id(album_id)).terminate("test over")
    for job in await asyncio.to_thread(services.albums.jobs, album_id):
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(job.id).terminate("test over")
