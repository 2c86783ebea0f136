"""Activities of an album: its charge, its ZIP, its end and the ZIP's removal a day later."""

from __future__ import annotations

from temporalio import activity

from heirloom.domain.errors import HeirloomError
from heirloom.domain.messages import AlbumInput, AlbumZipRequest, ReserveResult
from heirloom.domain.tiers import Tier
from heirloom.services.albums.albums import album_zip_key
from heirloom.services.albums.archive import build_album_zip
from heirloom.services.albums.charges import NewAlbum
from heirloom.services.context import Services


class AlbumActivities:
    """Thin wrappers over services/albums/."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @activity.defn
    def reserve_album(self, album: AlbumInput) -> ReserveResult:
        """Charge every photo of the album, or none; a refusal is an answer, not a failure."""
        try:
            charge = self.services.album_charges.reserve(
                NewAlbum(
                    album_id=album.album_id,
                    user_id=album.user_id,
                    tier=Tier(album.tier),
                    operations=album.operations,
                    photos=[(photo.job_id, photo.original_key) for photo in album.photos],
                    gpu_priority=album.rules.gpu_priority,
                )
            )
        except HeirloomError as err:
            if err.retryable:
                raise
            body = err.to_dict()
            return ReserveResult(
                accepted=False,
                error_code=body["code"],
                error_message=body["message"],
                error_details=body.get("details") or {},
            )
        return ReserveResult(accepted=True, cost=charge.cost, balance=charge.balance)

    @activity.defn
    def build_album_zip(self, request: AlbumZipRequest) -> str | None:
        """Store the ZIP of the album's results; its key (the same on a repeat), or None when
        the album is gone (its owner's account was erased meanwhile)."""
        albums = self.services.albums
        if not albums.exists(request.album_id):
            return None
        return build_album_zip(
            self.services.storage,
            request.user_id,
            request.album_id,
            albums.jobs(request.album_id),
        )

    @activity.defn
    def finish_album(self, request: AlbumZipRequest) -> dict[str, int]:
        """Mark the album completed and record `album.completed`; its counts per status."""
        self.services.albums.finish(
            request.album_id, album_zip_key(request.user_id, request.album_id), request.valid_s
        )
        return self.services.albums.counts(request.album_id)

    @activity.defn
    def expire_album_zip(self, album_id: str) -> None:
        """Remove the album's ZIP once its day is over."""
        self.services.albums.expire_zip(album_id)
