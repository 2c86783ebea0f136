"""ModelTransfer: how a job's input, output and run claim reach the RunPod handler.

With the S3 backend the handler gets presigned URLs (one object each, living the queue TTL plus
the execution timeout plus a margin, so a job that waited long can still deliver): a GET for
the input, a PUT and a DELETE for the output at this generation's own model key (the DELETE
takes back a result uploaded after a cancel), and a create-only PUT (`If-None-Match: *`) plus a
GET for the claim of this generation (the handler's cancel check reads it). With local storage
the photo travels inline as base64 and the claim is a storage key, which only a handler sharing
that storage (the local endpoint) can take. Inline input is capped so no `/run` body reaches
RunPod's 10 MB.
"""

from __future__ import annotations

import base64
from typing import Any

from heirloom.config import Settings
from heirloom.domain.errors import ModelFailed
from heirloom.domain.messages import ModelRequest
from heirloom.services.storage.base import Storage
from heirloom.services.storage.keys import claim_key, model_key
from heirloom.services.storage.s3 import S3Storage


class ModelTransfer:
    """Builds the handler's input for one submission of a job's model step."""

    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.settings = settings

    def payload(self, request: ModelRequest, generation: int) -> dict[str, Any]:
        """The `/run` input for this job and claim generation."""
        job = request.job
        payload: dict[str, Any] = {
            "operations": job.operations.split(","),
            "output_format": "PNG",
            "job_ref": job.job_id,
            "generation": generation,
            # domain/seeds.py: a retry draws the same picture; None in runs from before seeds.
            "seed": request.seed,
            "claim": self._claim(claim_key(job.user_id, job.job_id, generation)),
            **self._input(request.input_key),
        }
        s3 = self._s3()
        if s3 is not None and self.settings.runpod_transfer != "inline":
            # This generation's own key: an upload that outlives its generation (cancelled,
            # abandoned) cannot overwrite what a later generation delivered.
            key = model_key(job.user_id, job.job_id, generation)
            put = s3.presigned_put(key, expires_s=self._expiry_s, content_type="image/png")
            payload["output"] = {
                "put_url": put.url,
                "put_headers": put.headers,
                "key": key,
                "delete_url": s3.presigned_delete(key, expires_s=self._expiry_s),
            }
        return payload

    @property
    def _expiry_s(self) -> int:
        return self.settings.runpod_transfer_url_expiry_s

    def _s3(self) -> S3Storage | None:
        return self.storage if isinstance(self.storage, S3Storage) else None

    def _claim(self, key: str) -> dict[str, Any]:
        s3 = self._s3()
        if s3 is None:
            return {"key": key}
        put = s3.presigned_put(
            key, expires_s=self._expiry_s, content_type="application/json", if_absent=True
        )
        return {
            "put_url": put.url,
            "put_headers": put.headers,
            "get_url": s3.presigned_get(key, expires_s=self._expiry_s),
        }

    def _input(self, key: str) -> dict[str, str]:
        mode = self.settings.runpod_transfer
        limit = self.settings.runpod_inline_max_bytes
        s3 = self._s3()
        if s3 is not None and (mode == "presigned" or (mode == "auto" and s3.size(key) > limit)):
            return {"image_url": s3.presigned_get(key, expires_s=self._expiry_s)}
        if mode == "presigned":
            raise ModelFailed("HEIRLOOM_RUNPOD_TRANSFER=presigned needs the S3 storage backend")
        image = self.storage.get(key)
        if len(image) > limit:
            raise ModelFailed(
                f"the model input is {len(image)} bytes, above the inline limit of {limit}; "
                "larger inputs travel through S3 (HEIRLOOM_STORAGE_BACKEND=s3)"
            )
        return {"image_base64": base64.b64encode(image).decode("ascii")}
