"""Inputs and results of the restoration workflow and its activities.

Small frozen dataclasses, one argument each, so fields can be added without breaking running
workflows. They carry storage keys, never image bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heirloom.domain.periodic import Pace


@dataclass(frozen=True)
class JobRules:
    """The tier's rules as they were when the job was submitted."""

    output_long_side: int
    watermark: bool
    model_attempts: int
    activity_timeout_s: int = 120
    model_timeout_s: int = 900
    model_heartbeat_timeout_s: int = 30
    gpu_priority: int = 3
    # The frame's short side; None for jobs submitted when only the long side was bounded.
    output_short_side: int | None = None
    # False: the model step runs on the tier's queue, as before the GPU queue (the benchmark's
    # baseline design, HEIRLOOM_GPU_QUEUE_ENABLED=false). Input, so replays decide the same.
    gpu_queue: bool = True


@dataclass(frozen=True)
class RestorationInput:
    """Everything the workflow needs; the workflow id is the job id."""

    job_id: str
    user_id: str
    tier: str
    operations: str
    original_key: str
    rules: JobRules
    idempotency_key: str | None = None
    request_hash: str | None = None
    retry_of: str | None = None
    # Where this job's own webhook deliveries go, besides the user's webhook.
    callback_url: str | None = None
    # domain/seeds.py: the same on a plain retry; None in runs started before seeds existed.
    seed: int | None = None
    # The POST that started this run: the API records it withdrawn before it answers 503, and
    # the reservation then refuses to charge (a later retry under the same key is a new one).
    submission_id: str | None = None
    # A retry of a failed job: its model step goes first in the GPU queue. A retry of a job
    # that completed (a new seed) or was cancelled waits its turn as any job.
    priority_retry: bool = False
    # Model runs with different seeds to pick the result from; 1 in runs started before.
    candidates: int = 1
    # A photo of an album: charged with its album before this run starts, so the run finds
    # its reservation itself instead of waiting for the API's reserve update.
    album_id: str | None = None
    # What the upload's header says (services/imaging/metadata.py: format, size, mode, capture
    # date, camera; never pixels or GPS) and its size: the reservation's job row holds them
    # from the start, so the API writes nothing after it. Empty in runs started before.
    photo_metadata: dict[str, Any] | None = None
    original_bytes: int = 0


@dataclass(frozen=True)
class ReserveResult:
    """The reservation's answer, which the API returns as 202 or as a refusal."""

    accepted: bool
    cost: int = 0
    balance: int = 0
    error_code: str | None = None
    error_message: str | None = None
    error_details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobRef:
    """Identifies a job and what it asks for; enough for every pipeline step."""

    job_id: str
    user_id: str
    operations: str


@dataclass(frozen=True)
class PrepareRequest:
    job: JobRef
    original_key: str
    long_side: int
    short_side: int | None = None


@dataclass(frozen=True)
class PreparedInput:
    input_key: str
    width: int
    height: int


@dataclass(frozen=True)
class ModelRequest:
    job: JobRef
    input_key: str
    seed: int | None = None
    # Which model output of the job this is: 2 is the quality gate's second try.
    model_try: int = 1
    # The job's tier: which endpoints of the GPU pool may run it ("": any).
    tier: str = ""


@dataclass(frozen=True)
class ModelResult:
    model_key: str
    runpod_job_id: str
    execution_time_ms: int | None = None
    # The step's attempt that produced it: attempts used of the tier's model attempts.
    attempt: int = 1
    # What made it (domain/provenance.py): model, revision, LoRA, steps, CFG, seed, handler.
    provenance: dict[str, Any] | None = None


@dataclass(frozen=True)
class QualityRequest:
    """Check one model output against the prepared input (services/quality/)."""

    job: JobRef
    input_key: str
    model_key: str


@dataclass(frozen=True)
class PostprocessRequest:
    job: JobRef
    input_key: str
    model_key: str
    long_side: int
    watermark: bool
    short_side: int | None = None
    # Which candidate's files these are (services/storage/keys.py); 0: the job's one result.
    candidate: int = 0


@dataclass(frozen=True)
class PostprocessResult:
    result_key: str
    thumbnail_key: str
    comparison_key: str
    width: int
    height: int
    # Bytes of result, thumbnail and comparison, for the storage quota.
    stored_bytes: int = 0


@dataclass(frozen=True)
class CompleteRequest:
    job_id: str
    input_key: str
    result: PostprocessResult
    # domain/quality.py quality_record: what the gate found; None when it did not run.
    quality: dict[str, Any] | None = None
    # A job with candidates: each one's files, seed and provenance; the result is the first.
    candidates: list[dict[str, Any]] | None = None
    # What made the kept output (a quality-gate retry or a later candidate may have run after).
    provenance: dict[str, Any] | None = None


@dataclass(frozen=True)
class RefundRequest:
    job_id: str
    reason: str
    # The owner cancelled: once the model started, the stated part of the price is kept.
    owner_cancelled: bool = False


@dataclass(frozen=True)
class FinishRequest:
    """Ends a job as failed or cancelled; the detail and who ended it are for operators."""

    job_id: str
    status: str
    error_code: str
    error_message: str
    error_detail: str = ""
    ended_by: str = ""
    quality: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobProgress:
    """What the progress query answers."""

    status: str
    stage: str
    progress: int
    cancel_requested: bool


@dataclass(frozen=True)
class JobOutcome:
    """How the workflow ended."""

    status: str
    cost: int = 0
    refunded: int = 0
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class ReconcileInput:
    """Reconciliation: jobs unchanged for `grace_s` are checked, `batch` at a time; one pass,
    or at the schedule's `pace` within the run."""

    grace_s: int = 60
    batch: int = 100
    pace: Pace = field(default_factory=Pace)


@dataclass(frozen=True)
class StrandedQuery:
    """A page of unfinished jobs unchanged since `cutoff` (a UNIX time), after `after_id`."""

    cutoff: float
    after_id: str
    limit: int


@dataclass(frozen=True)
class StrandedPage:
    """The page's jobs whose workflow is closed or missing, and where the next page starts."""

    checked: int
    stranded: list[str]
    next_after: str | None


@dataclass(frozen=True)
class SettleRequest:
    job_id: str
    detail: str


@dataclass(frozen=True)
class ReconcileReport:
    """What a reconciliation pass looked at and which jobs it settled."""

    checked: int
    settled: list[str]


@dataclass(frozen=True)
class CleanupInput:
    """One retention pass: jobs expired at `now` (a UNIX time; None: the run's start time)
    lose their files, `batch` jobs per activity."""

    batch: int = 100
    now: float | None = None


@dataclass(frozen=True)
class ExpireRequest:
    """Delete the files of up to `limit` jobs whose retention ended at `now`."""

    now: float
    limit: int


@dataclass(frozen=True)
class CleanupReport:
    expired: int


@dataclass(frozen=True)
class ErasureInput:
    """Close one account and erase what it owns; the workflow id is `erase-<user_id>`.

    `heartbeat_timeout_s` is None in erasures started before steps heartbeated: their steps
    keep the options they were scheduled with."""

    user_id: str
    heartbeat_timeout_s: int | None = None


@dataclass(frozen=True)
class ErasureReport:
    files_deleted: int
    histories_deleted: int


@dataclass(frozen=True)
class ExportInput:
    """Build one export of a user's data; it can be downloaded for `valid_s` seconds."""

    user_id: str
    export_id: str
    valid_s: int = 86400


@dataclass(frozen=True)
class ExportBuilt:
    """A built export: whether it was kept (not when the account's erasure began meanwhile)."""

    kept: bool
    size: int


@dataclass(frozen=True)
class WebhookDispatchInput:
    """One dispatcher pass: start a delivery workflow for each owed delivery, with this backoff."""

    batch: int
    task_queue: str
    retry_first_s: float
    retry_longest_s: float
    retry_window_s: int


@dataclass(frozen=True)
class WebhookDeliveryInput:
    """Send one delivery until a 2xx answer, retrying with exponential backoff over the window."""

    delivery_id: int
    retry_first_s: float
    retry_longest_s: float
    retry_window_s: int


@dataclass(frozen=True)
class WebhookSendResult:
    delivered: bool
    status: int | None


@dataclass(frozen=True)
class PruneEventsInput:
    retention_days: int
    batch: int = 5000


@dataclass(frozen=True)
class PruneEventsRequest:
    """One batch: events recorded before `cutoff` (a UNIX time)."""

    cutoff: float
    batch: int


@dataclass(frozen=True)
class AlbumPhoto:
    """One photo of an album: its job id (the child workflow's id) and stored original."""

    job_id: str
    original_key: str


@dataclass(frozen=True)
class AlbumInput:
    """Everything the album workflow needs; the photos' jobs share the rules and operations."""

    album_id: str
    user_id: str
    tier: str
    operations: str
    photos: list[AlbumPhoto]
    rules: JobRules
    # Photos restored at once (the bounded fan-out of child workflows).
    parallel: int = 8
    # How long the album's ZIP of results is kept.
    zip_valid_s: int = 86_400
    # The change feed's latest id before the album was charged (its stream starts there).
    first_event_id: int = 0
    submission_id: str | None = None


@dataclass(frozen=True)
class AlbumOutcome:
    """How an album ended: its photos counted by how they ended."""

    status: str
    counts: dict[str, int] = field(default_factory=dict)
    zip_key: str | None = None


@dataclass(frozen=True)
class AlbumZipRequest:
    album_id: str
    user_id: str
    valid_s: int
