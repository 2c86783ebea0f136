"""Starting an album: check every photo's header, store the originals, and let the album
workflow's charge (every photo or none) answer, as a single job's submission does."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from heirloom.db.models import Album, User
from heirloom.domain.albums import album_job_id, album_workflow_id
from heirloom.domain.errors import (
    HeirloomError,
    ImageTooLarge,
    InvalidRequest,
    ServiceUnavailable,
)
from heirloom.domain.jobs import operations_label, parse_operations
from heirloom.domain.messages import AlbumInput, AlbumPhoto, ReserveResult
from heirloom.domain.tiers import Tier
from heirloom.services.context import Services
from heirloom.services.imaging import pipeline as imaging
from heirloom.services.storage.keys import job_key
from heirloom.starters.restoration import Submitter
from heirloom.starters.threads import blocking
from heirloom.workflows.album import AlbumWorkflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlbumUpload:
    """One photo of an album request: a name for messages and a reader of its bytes."""

    name: str
    size: int | None
    data: Any  # an object with `async read(n) -> bytes` (FastAPI's UploadFile)


class AlbumSubmitter:
    """Turns many uploads into a charged, running album, or a refusal with nothing charged."""

    def __init__(self, services: Services, temporal: Client) -> None:
        self.services = services
        self.temporal = temporal
        self.settings = services.settings

    async def submit(self, user: User, uploads: list[AlbumUpload], operations: str) -> Album:
        """Check, store, charge and start; every 4xx leaves nothing charged or stored."""
        settings = self.settings
        if not 1 <= len(uploads) <= settings.album_max_photos:
            raise InvalidRequest(
                f"An album holds 1 to {settings.album_max_photos} photos; this one has "
                f"{len(uploads)}.",
                photos=len(uploads),
                max_photos=settings.album_max_photos,
            )
        try:
            label = operations_label(parse_operations(operations))
        except ValueError as err:
            raise InvalidRequest(str(err)) from None
        tier = Tier(user.tier)
        await blocking(self.services.budgets.admit, tier)
        # All or nothing, up front: before a photo is read or stored.
        await blocking(self.services.album_charges.check, user.id, label, len(uploads))
        declared = sum(upload.size or 0 for upload in uploads)
        await blocking(self.services.retention.check_quota, user.id, tier, declared)
        album_id = uuid.uuid4().hex
        photos: list[AlbumPhoto] = []
        details: list[tuple[str, dict[str, Any], int]] = []
        try:
            for number, upload in enumerate(uploads, start=1):
                job_id = album_job_id(album_id, number)
                key, metadata, size = await self._store(user, job_id, number, upload)
                photos.append(AlbumPhoto(job_id=job_id, original_key=key))
                details.append((job_id, metadata, size))
            result = await self._start(user, album_id, label, photos)
        except BaseException:
            await self._remove(photos)
            raise
        if not result.accepted:
            await self._remove(photos)
            raise HeirloomError.from_code(
                result.error_code or "internal_error",
                result.error_message or "The album was refused.",
                result.error_details,
            )
        for job_id, metadata, size in details:
            await blocking(self.services.jobs.set_metadata, job_id, metadata, size)
        return await blocking(self.services.albums.get_owned, user.id, album_id)

    async def _store(
        self, user: User, job_id: str, number: int, upload: AlbumUpload
    ) -> tuple[str, dict[str, Any], int]:
        """Read one photo (one at a time: the album's size never sits in memory), check its
        header and store it; a bad photo refuses the album, naming it."""
        limit = self.settings.max_upload_bytes
        data: bytes = await upload.data.read(limit + 1)
        if len(data) > limit:
            raise ImageTooLarge(
                f"Photo {number} ({upload.name}) is larger than the {limit / 1e6:.0f} MB limit.",
                photo=number,
            )
        try:
            info = await blocking(
                imaging.probe_upload, data, max_pixels=self.settings.max_image_pixels
            )
        except HeirloomError as err:
            err.message = f"Photo {number} ({upload.name}): {err.message}"
            err.details = {**err.details, "photo": number}
            raise
        key = job_key(user.id, job_id, "original", info.extension)
        await blocking(self.services.storage.put, key, data, content_type=f"image/{info.extension}")
        return key, info.metadata, len(data)

    async def _remove(self, photos: list[AlbumPhoto]) -> None:
        for photo in photos:
            await blocking(self.services.storage.delete, photo.original_key)

    async def _start(
        self, user: User, album_id: str, label: str, photos: list[AlbumPhoto]
    ) -> ReserveResult:
        """Start the album's run and wait for its charge, at most `submit_timeout_s`."""
        tier = Tier(user.tier)
        album = AlbumInput(
            album_id=album_id,
            user_id=user.id,
            tier=tier.value,
            operations=label,
            photos=photos,
            rules=Submitter(self.services, self.temporal).rules(tier),
            parallel=self.settings.album_parallel_jobs,
            zip_valid_s=self.settings.album_zip_valid_s,
        )
        start = WithStartWorkflowOperation(
            AlbumWorkflow.run,
            album,
            id=album_workflow_id(album_id),
            task_queue=tier.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"album - {tier.value} - {label} - {len(photos)} photos",
        )
        try:
            async with asyncio.timeout(self.settings.submit_timeout_s):
                return await self.temporal.execute_update_with_start_workflow(
                    AlbumWorkflow.reserve,
                    start_workflow_operation=start,
                    id=f"reserve-{album_id}",
                )
        except (
            TimeoutError,
            WorkflowUpdateRPCTimeoutOrCancelledError,
            WorkflowUpdateFailedError,
            RPCError,
        ) as err:
            raise await self._give_up(album_id, photos, type(err).__name__) from err

    async def _give_up(
        self, album_id: str, photos: list[AlbumPhoto], why: str
    ) -> ServiceUnavailable:
        """Stop the album's run and settle any photo already charged, then answer 503."""
        log.warning("album %s: answering 503 (%s)", album_id, why)
        try:
            await self.temporal.get_workflow_handle(album_workflow_id(album_id)).terminate(
                reason=f"the API answered 503: {why}"
            )
        except RPCError as err:
            log.warning("album %s: terminate failed: %s", album_id, err)
        for photo in photos:
            if await blocking(self.services.jobs.find, photo.job_id) is not None:
                await blocking(
                    self.services.settlement.settle_interrupted,
                    photo.job_id,
                    detail=f"the API answered 503 for its album: {why}",
                )
        return ServiceUnavailable(
            "The album service is temporarily unavailable; nothing was charged (any charge "
            "that landed is refunded). Please retry.",
            retry_after=5,
        )
