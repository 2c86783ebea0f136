from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.candidate_out import CandidateOut
    from ..models.error_body import ErrorBody
    from ..models.job_out_metadata_type_0 import JobOutMetadataType0
    from ..models.job_out_provenance_type_0 import JobOutProvenanceType0
    from ..models.job_out_quality_type_0 import JobOutQualityType0


T = TypeVar("T", bound="JobOut")


@_attrs_define
class JobOut:
    """A job as its owner sees it.

    Attributes:
        comparison_url (None | str):
        created_at (datetime.datetime):
        credits_charged (int):
        credits_refunded (int):
        error (ErrorBody | None):
        finished_at (datetime.datetime | None):
        height (int | None):
        id (str):
        operations (list[str]):
        progress (int):
        result_url (None | str):
        retry_of (None | str):
        stage (str):
        started_at (datetime.datetime | None):
        status (str):
        thumbnail_url (None | str):
        tier (str):
        width (int | None):
        album_id (None | str | Unset): the album the photo came in with (GET /v1/albums/{id})
        candidate_count (int | Unset): candidates asked for (model runs with different seeds) Default: 1.
        candidates (list[CandidateOut] | None | Unset): a job with candidates, once completed: each kept one with its
            seed and files; POST /v1/jobs/{id}/choose makes one the result (the first until then)
        estimated_finish_at (datetime.datetime | None | Unset):
        estimated_start_at (datetime.datetime | None | Unset):
        expires_at (datetime.datetime | None | Unset): when the job's files are deleted; null keeps them
        metadata (JobOutMetadataType0 | None | Unset): format, size, colour mode, capture date and camera
        model (None | str | Unset): what made the result: the model, its LoRA and their revisions, as the GPU handler
            names them; null until the model has run
        original_url (None | str | Unset):
        provenance (JobOutProvenanceType0 | None | Unset): what made the result, as fields: model_id, revision, lora,
            lora_revision, steps, cfg, seed, handler_version, engine (null: unpinned or not used); null until the model has
            run
        quality (JobOutQualityType0 | None | Unset): what the quality gate found in the result: verdict (passed,
            flagged, failed, not_checked), tries, faces_found, identity_distance, structure_score, checks, summary (a
            sentence for the user); null until the gate has decided
        queue_position (int | None | Unset): while waiting for a GPU: jobs dispatched before this one
    """

    comparison_url: None | str
    created_at: datetime.datetime
    credits_charged: int
    credits_refunded: int
    error: ErrorBody | None
    finished_at: datetime.datetime | None
    height: int | None
    id: str
    operations: list[str]
    progress: int
    result_url: None | str
    retry_of: None | str
    stage: str
    started_at: datetime.datetime | None
    status: str
    thumbnail_url: None | str
    tier: str
    width: int | None
    album_id: None | str | Unset = UNSET
    candidate_count: int | Unset = 1
    candidates: list[CandidateOut] | None | Unset = UNSET
    estimated_finish_at: datetime.datetime | None | Unset = UNSET
    estimated_start_at: datetime.datetime | None | Unset = UNSET
    expires_at: datetime.datetime | None | Unset = UNSET
    metadata: JobOutMetadataType0 | None | Unset = UNSET
    model: None | str | Unset = UNSET
    original_url: None | str | Unset = UNSET
    provenance: JobOutProvenanceType0 | None | Unset = UNSET
    quality: JobOutQualityType0 | None | Unset = UNSET
    queue_position: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.error_body import ErrorBody
        from ..models.job_out_metadata_type_0 import JobOutMetadataType0
        from ..models.job_out_provenance_type_0 import JobOutProvenanceType0
        from ..models.job_out_quality_type_0 import JobOutQualityType0

        comparison_url: None | str
        comparison_url = self.comparison_url

        created_at = self.created_at.isoformat()

        credits_charged = self.credits_charged

        credits_refunded = self.credits_refunded

        error: dict[str, Any] | None
        if isinstance(self.error, ErrorBody):
            error = self.error.to_dict()
        else:
            error = self.error

        finished_at: None | str
        if isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        height: int | None
        height = self.height

        id = self.id

        operations = self.operations

        progress = self.progress

        result_url: None | str
        result_url = self.result_url

        retry_of: None | str
        retry_of = self.retry_of

        stage = self.stage

        started_at: None | str
        if isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        status = self.status

        thumbnail_url: None | str
        thumbnail_url = self.thumbnail_url

        tier = self.tier

        width: int | None
        width = self.width

        album_id: None | str | Unset
        if isinstance(self.album_id, Unset):
            album_id = UNSET
        else:
            album_id = self.album_id

        candidate_count = self.candidate_count

        candidates: list[dict[str, Any]] | None | Unset
        if isinstance(self.candidates, Unset):
            candidates = UNSET
        elif isinstance(self.candidates, list):
            candidates = []
            for candidates_type_0_item_data in self.candidates:
                candidates_type_0_item = candidates_type_0_item_data.to_dict()
                candidates.append(candidates_type_0_item)

        else:
            candidates = self.candidates

        estimated_finish_at: None | str | Unset
        if isinstance(self.estimated_finish_at, Unset):
            estimated_finish_at = UNSET
        elif isinstance(self.estimated_finish_at, datetime.datetime):
            estimated_finish_at = self.estimated_finish_at.isoformat()
        else:
            estimated_finish_at = self.estimated_finish_at

        estimated_start_at: None | str | Unset
        if isinstance(self.estimated_start_at, Unset):
            estimated_start_at = UNSET
        elif isinstance(self.estimated_start_at, datetime.datetime):
            estimated_start_at = self.estimated_start_at.isoformat()
        else:
            estimated_start_at = self.estimated_start_at

        expires_at: None | str | Unset
        if isinstance(self.expires_at, Unset):
            expires_at = UNSET
        elif isinstance(self.expires_at, datetime.datetime):
            expires_at = self.expires_at.isoformat()
        else:
            expires_at = self.expires_at

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, JobOutMetadataType0):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        model: None | str | Unset
        if isinstance(self.model, Unset):
            model = UNSET
        else:
            model = self.model

        original_url: None | str | Unset
        if isinstance(self.original_url, Unset):
            original_url = UNSET
        else:
            original_url = self.original_url

        provenance: dict[str, Any] | None | Unset
        if isinstance(self.provenance, Unset):
            provenance = UNSET
        elif isinstance(self.provenance, JobOutProvenanceType0):
            provenance = self.provenance.to_dict()
        else:
            provenance = self.provenance

        quality: dict[str, Any] | None | Unset
        if isinstance(self.quality, Unset):
            quality = UNSET
        elif isinstance(self.quality, JobOutQualityType0):
            quality = self.quality.to_dict()
        else:
            quality = self.quality

        queue_position: int | None | Unset
        if isinstance(self.queue_position, Unset):
            queue_position = UNSET
        else:
            queue_position = self.queue_position

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "comparison_url": comparison_url,
                "created_at": created_at,
                "credits_charged": credits_charged,
                "credits_refunded": credits_refunded,
                "error": error,
                "finished_at": finished_at,
                "height": height,
                "id": id,
                "operations": operations,
                "progress": progress,
                "result_url": result_url,
                "retry_of": retry_of,
                "stage": stage,
                "started_at": started_at,
                "status": status,
                "thumbnail_url": thumbnail_url,
                "tier": tier,
                "width": width,
            }
        )
        if album_id is not UNSET:
            field_dict["album_id"] = album_id
        if candidate_count is not UNSET:
            field_dict["candidate_count"] = candidate_count
        if candidates is not UNSET:
            field_dict["candidates"] = candidates
        if estimated_finish_at is not UNSET:
            field_dict["estimated_finish_at"] = estimated_finish_at
        if estimated_start_at is not UNSET:
            field_dict["estimated_start_at"] = estimated_start_at
        if expires_at is not UNSET:
            field_dict["expires_at"] = expires_at
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if model is not UNSET:
            field_dict["model"] = model
        if original_url is not UNSET:
            field_dict["original_url"] = original_url
        if provenance is not UNSET:
            field_dict["provenance"] = provenance
        if quality is not UNSET:
            field_dict["quality"] = quality
        if queue_position is not UNSET:
            field_dict["queue_position"] = queue_position

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.candidate_out import CandidateOut
        from ..models.error_body import ErrorBody
        from ..models.job_out_metadata_type_0 import JobOutMetadataType0
        from ..models.job_out_provenance_type_0 import JobOutProvenanceType0
        from ..models.job_out_quality_type_0 import JobOutQualityType0

        d = dict(src_dict)

        def _parse_comparison_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        comparison_url = _parse_comparison_url(d.pop("comparison_url"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        credits_charged = d.pop("credits_charged")

        credits_refunded = d.pop("credits_refunded")

        def _parse_error(data: object) -> ErrorBody | None:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = ErrorBody.from_dict(data)

                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ErrorBody | None, data)

        error = _parse_error(d.pop("error"))

        def _parse_finished_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        finished_at = _parse_finished_at(d.pop("finished_at"))

        def _parse_height(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        height = _parse_height(d.pop("height"))

        id = d.pop("id")

        operations = cast(list[str], d.pop("operations"))

        progress = d.pop("progress")

        def _parse_result_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        result_url = _parse_result_url(d.pop("result_url"))

        def _parse_retry_of(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        retry_of = _parse_retry_of(d.pop("retry_of"))

        stage = d.pop("stage")

        def _parse_started_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        started_at = _parse_started_at(d.pop("started_at"))

        status = d.pop("status")

        def _parse_thumbnail_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        thumbnail_url = _parse_thumbnail_url(d.pop("thumbnail_url"))

        tier = d.pop("tier")

        def _parse_width(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        width = _parse_width(d.pop("width"))

        def _parse_album_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        album_id = _parse_album_id(d.pop("album_id", UNSET))

        candidate_count = d.pop("candidate_count", UNSET)

        def _parse_candidates(data: object) -> list[CandidateOut] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                candidates_type_0 = []
                _candidates_type_0 = data
                for candidates_type_0_item_data in _candidates_type_0:
                    candidates_type_0_item = CandidateOut.from_dict(
                        candidates_type_0_item_data
                    )

                    candidates_type_0.append(candidates_type_0_item)

                return candidates_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[CandidateOut] | None | Unset, data)

        candidates = _parse_candidates(d.pop("candidates", UNSET))

        def _parse_estimated_finish_at(
            data: object,
        ) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                estimated_finish_at_type_0 = datetime.datetime.fromisoformat(data)

                return estimated_finish_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        estimated_finish_at = _parse_estimated_finish_at(
            d.pop("estimated_finish_at", UNSET)
        )

        def _parse_estimated_start_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                estimated_start_at_type_0 = datetime.datetime.fromisoformat(data)

                return estimated_start_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        estimated_start_at = _parse_estimated_start_at(
            d.pop("estimated_start_at", UNSET)
        )

        def _parse_expires_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                expires_at_type_0 = datetime.datetime.fromisoformat(data)

                return expires_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        expires_at = _parse_expires_at(d.pop("expires_at", UNSET))

        def _parse_metadata(data: object) -> JobOutMetadataType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_0 = JobOutMetadataType0.from_dict(data)

                return metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(JobOutMetadataType0 | None | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))

        def _parse_model(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        model = _parse_model(d.pop("model", UNSET))

        def _parse_original_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        original_url = _parse_original_url(d.pop("original_url", UNSET))

        def _parse_provenance(data: object) -> JobOutProvenanceType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                provenance_type_0 = JobOutProvenanceType0.from_dict(data)

                return provenance_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(JobOutProvenanceType0 | None | Unset, data)

        provenance = _parse_provenance(d.pop("provenance", UNSET))

        def _parse_quality(data: object) -> JobOutQualityType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                quality_type_0 = JobOutQualityType0.from_dict(data)

                return quality_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(JobOutQualityType0 | None | Unset, data)

        quality = _parse_quality(d.pop("quality", UNSET))

        def _parse_queue_position(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        queue_position = _parse_queue_position(d.pop("queue_position", UNSET))

        job_out = cls(
            comparison_url=comparison_url,
            created_at=created_at,
            credits_charged=credits_charged,
            credits_refunded=credits_refunded,
            error=error,
            finished_at=finished_at,
            height=height,
            id=id,
            operations=operations,
            progress=progress,
            result_url=result_url,
            retry_of=retry_of,
            stage=stage,
            started_at=started_at,
            status=status,
            thumbnail_url=thumbnail_url,
            tier=tier,
            width=width,
            album_id=album_id,
            candidate_count=candidate_count,
            candidates=candidates,
            estimated_finish_at=estimated_finish_at,
            estimated_start_at=estimated_start_at,
            expires_at=expires_at,
            metadata=metadata,
            model=model,
            original_url=original_url,
            provenance=provenance,
            quality=quality,
            queue_position=queue_position,
        )

        job_out.additional_properties = d
        return job_out

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
