"""AlbumWorkflow: an album's photos charged together, each restored by a child workflow of its
own (a RestorationWorkflow whose id is the photo's job id), a bounded number at once; then the
ZIP of results, `album.completed`, and a day later the ZIP's removal."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from heirloom.activities.albums import AlbumActivities
    from heirloom.domain.errors import message_for
    from heirloom.domain.messages import (
        AlbumInput,
        AlbumOutcome,
        AlbumPhoto,
        AlbumZipRequest,
        ReserveResult,
        RestorationInput,
    )
    from heirloom.domain.task_queues import EXPORT_TASK_QUEUE
    from heirloom.domain.tiers import Tier
    from heirloom.workflows.restoration import UNRESERVED, RestorationWorkflow
    from heirloom.workflows.retry import DB_RETRY, EXPORT_RETRY, MUST_LAND_RETRY

_STEP_TIMEOUT = timedelta(seconds=60)
_ZIP_TIMEOUT = timedelta(minutes=30)


@workflow.defn
class AlbumWorkflow:
    """Charge every photo or none, restore them (at most `parallel` at once), then the ZIP and
    the end. A photo's run is a child that settles itself (charge, refund, result); a worker
    killed at any point loses nothing: the album and each child resume where they were."""

    @workflow.init
    def __init__(self, album: AlbumInput) -> None:
        self._album = album
        self._reservation: ReserveResult | None = None
        self._reserving = False
        self._in_flight = 0
        self._ended: Counter[str] = Counter()

    @workflow.run
    async def run(self, album: AlbumInput) -> AlbumOutcome:
        reservation = await self._reserved()
        if not reservation.accepted:
            # The reserve update answers the API before the run ends.
            await workflow.wait_condition(workflow.all_handlers_finished)
            return AlbumOutcome(status="rejected")
        await self._restore_photos(album)
        zip_request = AlbumZipRequest(album.album_id, album.user_id, album.zip_valid_s)
        zip_key = await workflow.execute_activity_method(
            AlbumActivities.build_album_zip,
            zip_request,
            task_queue=EXPORT_TASK_QUEUE,
            start_to_close_timeout=_ZIP_TIMEOUT,
            retry_policy=EXPORT_RETRY,
        )
        counts = await workflow.execute_activity_method(
            AlbumActivities.finish_album,
            zip_request,
            start_to_close_timeout=_STEP_TIMEOUT,
            retry_policy=MUST_LAND_RETRY,
        )
        self._show(f"completed: {dict(counts)}; ZIP kept {album.zip_valid_s} s")
        await workflow.sleep(timedelta(seconds=album.zip_valid_s))
        await workflow.execute_activity_method(
            AlbumActivities.expire_album_zip,
            album.album_id,
            start_to_close_timeout=_STEP_TIMEOUT,
            retry_policy=EXPORT_RETRY,
        )
        return AlbumOutcome(status="completed", counts=counts, zip_key=zip_key)

    @workflow.update
    async def reserve(self) -> ReserveResult:
        """Charge every photo; update-with-start lets the API answer 202 or 402 from it."""
        if self._reservation is None and not self._reserving:
            self._reserving = True
            try:
                self._reservation = await workflow.execute_local_activity_method(
                    AlbumActivities.reserve_album,
                    self._album,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=DB_RETRY,
                )
            except ActivityError:
                self._reservation = ReserveResult(
                    accepted=False, error_code=UNRESERVED, error_message=message_for(UNRESERVED)
                )
        return await self._reserved()

    async def _reserved(self) -> ReserveResult:
        await workflow.wait_condition(lambda: self._reservation is not None)
        assert self._reservation is not None
        return self._reservation

    async def _restore_photos(self, album: AlbumInput) -> None:
        """Every photo's run, at most `parallel` at once, in upload order."""
        runs: list[asyncio.Task[None]] = []
        for photo in album.photos:
            await workflow.wait_condition(lambda: self._in_flight < album.parallel)
            self._in_flight += 1
            runs.append(asyncio.ensure_future(self._restore(album, photo)))
        await asyncio.gather(*runs)

    async def _restore(self, album: AlbumInput, photo: AlbumPhoto) -> None:
        """One photo's run to its end; how it ended is its job's own (charge, refund, result)."""
        try:
            outcome = await workflow.execute_child_workflow(
                RestorationWorkflow.run,
                RestorationInput(
                    job_id=photo.job_id,
                    user_id=album.user_id,
                    tier=album.tier,
                    operations=album.operations,
                    original_key=photo.original_key,
                    rules=album.rules,
                    album_id=album.album_id,
                ),
                id=photo.job_id,
                task_queue=Tier(album.tier).task_queue,
                # An album's end never ends its photos: each settles itself.
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
            ended = outcome.status
        except ChildWorkflowError:
            ended = "failed or cancelled"
        except WorkflowAlreadyStartedError:
            ended = "already started"
        finally:
            self._in_flight -= 1
        self._ended[ended] += 1
        self._show(f"photos ended: {dict(self._ended)} of {len(album.photos)}")

    def _show(self, line: str) -> None:
        workflow.set_current_details(
            f"album `{self._album.album_id}` of user `{self._album.user_id}`, "
            f"{len(self._album.photos)} photos, {self._album.operations}\n\n{line}"
        )
