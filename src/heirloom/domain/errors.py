"""The closed error taxonomy: a stable code, an HTTP status and a plain-language message each.

Kinds decide what happens next:
- user errors (the photo or the request is wrong): never retried, nothing charged or all refunded;
- transient errors (a provider or storage hiccup): retried by the activity RetryPolicy;
- permanent errors (the model cannot do this photo): not retried, refunded;
- cancellation: the user asked to stop; refunded.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar


class ErrorKind(StrEnum):
    USER = "user"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    CANCELLED = "cancelled"


class HeirloomError(Exception):
    """Base of every error Heirloom reports to a user."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    kind: ClassVar[ErrorKind] = ErrorKind.PERMANENT
    default_message: ClassVar[str] = "Something went wrong on our side. Your credits were refunded."

    def __init__(
        self, message: str | None = None, *, retryable: bool | None = None, **details: Any
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self._retryable = retryable
        super().__init__(self.message)

    @classmethod
    def from_code(cls, code: str, message: str, details: dict[str, Any]) -> HeirloomError:
        """Rebuild an error reported elsewhere (an activity result) from its code."""
        error_cls = ERRORS_BY_CODE.get(code, InternalError)
        error = Exception.__new__(error_cls)
        HeirloomError.__init__(error, message, **details)
        return error

    @property
    def retryable(self) -> bool:
        """Whether trying again may help: the kind's rule, unless this raise decided (a model
        run that failed once is tried again; see services/runpod/model_step.py)."""
        if self._retryable is not None:
            return self._retryable
        return self.kind is ErrorKind.TRANSIENT

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = {k: _jsonable(v) for k, v in self.details.items()}
        return body


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# --- user errors -------------------------------------------------------------------------


class UserError(HeirloomError):
    kind = ErrorKind.USER
    http_status = 400


class InvalidRequest(UserError):
    code = "invalid_request"
    default_message = "The request is not valid."


class InvalidQuery(InvalidRequest):
    """A query or path parameter out of its range: same code, the status FastAPI users expect."""

    http_status = 422
    default_message = "A parameter in the address is not valid."


class NotAnImage(UserError):
    code = "not_an_image"
    default_message = (
        "The uploaded file is not an image we can read. Please upload a JPEG, PNG, WebP, "
        "TIFF, BMP, HEIC or AVIF photo."
    )


class UnsupportedFormat(UserError):
    code = "unsupported_format"
    default_message = (
        "This image format is not supported. Please upload a JPEG, PNG, WebP, HEIC or AVIF photo."
    )


class ImageTooLarge(UserError):
    code = "image_too_large"
    http_status = 413
    default_message = "The photo is too large."


class RequestTooLarge(UserError):
    code = "request_too_large"
    http_status = 413
    default_message = "The request body is too large."


class ImageTooSmall(UserError):
    code = "image_too_small"
    default_message = "The photo is too small to restore; it needs at least 32 pixels per side."


class CorruptImage(UserError):
    code = "corrupt_image"
    default_message = (
        "The photo could not be decoded; the file may be damaged or incomplete. "
        "Your credits were refunded."
    )


class InsufficientCredits(UserError):
    code = "insufficient_credits"
    http_status = 402
    default_message = "This job costs more credits than your balance holds."

    def __init__(self, *, cost: int, balance: int) -> None:
        super().__init__(
            f"This job costs {cost} credits but your balance is {balance}. "
            "Buy more credits or choose fewer operations.",
            cost=cost,
            balance=balance,
        )


class OutstandingDebt(UserError):
    code = "outstanding_debt"
    http_status = 402

    def __init__(self, *, debt: int) -> None:
        super().__init__(
            f"A refunded or disputed purchase left your account owing {debt} credits. "
            "New jobs start again once a purchase or a grant has paid it back.",
            debt=debt,
        )


class SignupRefused(UserError):
    code = "signup_refused"
    default_message = "This email address cannot be used to sign up."


class LinkExpired(UserError):
    code = "link_expired"
    http_status = 410
    default_message = (
        "This confirmation link has expired or was already used. Sign up again for a new one."
    )


class PaymentRejected(UserError):
    code = "payment_rejected"
    default_message = "The payment notification could not be verified; nothing was changed."


class AlbumCreditsShort(InsufficientCredits):
    """An album costs more than the balance: the same code, saying how many credits are missing."""

    def __init__(self, *, cost: int, balance: int, photos: int) -> None:
        missing = cost - balance
        UserError.__init__(
            self,
            f"This album of {photos} photos costs {cost} credits but your balance is {balance}: "
            f"{missing} credits are missing. Nothing was charged.",
            cost=cost,
            balance=balance,
            missing=missing,
            photos=photos,
        )


class DailyLimitReached(UserError):
    code = "daily_limit_reached"
    http_status = 429
    default_message = "Your plan's jobs for today are used up; the limit resets at midnight UTC."

    def __init__(self, *, limit: int, resets_at: datetime) -> None:
        super().__init__(
            f"Your plan allows {limit} jobs per day and you have used them all. "
            f"The limit resets at {resets_at:%Y-%m-%d %H:%M} UTC.",
            limit=limit,
            resets_at=resets_at,
        )


class TooManyActiveJobs(UserError):
    code = "too_many_active_jobs"
    http_status = 429
    default_message = "Your plan's jobs in progress at once are all running; wait for one."

    def __init__(self, *, limit: int) -> None:
        super().__init__(
            f"Your plan allows {limit} jobs in progress at once. Wait for one to finish, "
            "then submit again.",
            limit=limit,
        )


class RateLimited(UserError):
    code = "rate_limited"
    http_status = 429
    default_message = "Too many requests. Wait a moment, then try again."

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(
            f"Too many requests. Try again in {retry_after} seconds.", retry_after=retry_after
        )


class ExportLimitReached(RateLimited):
    """Too many exports in a day: the `rate_limited` code, with a message that says why."""

    def __init__(self, *, limit: int, retry_after: int) -> None:
        HeirloomError.__init__(
            self,
            f"You can start {limit} exports in 24 hours and have started them all. "
            f"Download the last one, or start a new export in {retry_after} seconds.",
            limit=limit,
            retry_after=retry_after,
        )


class TooManyStreams(UserError):
    code = "too_many_streams"
    http_status = 429
    default_message = "Too many live streams are open. Close one, or wait a moment and try again."

    def __init__(self, message: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(message, retry_after=retry_after)


class Unauthorized(UserError):
    code = "unauthorized"
    http_status = 401
    default_message = "Missing or invalid API key. Send it as 'Authorization: Bearer <key>'."


class Forbidden(UserError):
    code = "forbidden"
    http_status = 403
    default_message = "This API key is not allowed to do that."


class NotFound(UserError):
    code = "not_found"
    http_status = 404
    default_message = "No such job."


class RouteNotFound(NotFound):
    default_message = "There is nothing at this address. See /docs for the routes."


class MethodNotAllowed(UserError):
    code = "method_not_allowed"
    http_status = 405
    default_message = "This address does not accept that HTTP method. See /docs for the routes."


class Conflict(UserError):
    code = "conflict"
    http_status = 409
    default_message = "The request conflicts with the job's current state."


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    default_message = (
        "This Idempotency-Key was already used with a different request. "
        "Use a new key for a new job."
    )


class ResultNotReady(Conflict):
    code = "result_not_ready"
    default_message = "The job has no result yet; wait until its status is completed."


class JobAlreadyFinished(Conflict):
    code = "job_already_finished"
    default_message = "The job has already finished and can no longer be cancelled."


class ResultExpired(UserError):
    code = "result_expired"
    http_status = 410
    default_message = (
        "This job's files were deleted when its retention period ended. "
        "Upgrade your plan to keep results."
    )


class JobDeleted(UserError):
    code = "job_deleted"
    http_status = 410
    default_message = "This job and its files were deleted."


class ShareGone(UserError):
    code = "share_gone"
    http_status = 410
    default_message = "This share link was revoked or has expired."


class DownloadNotAllowed(Forbidden):
    code = "download_not_allowed"
    default_message = "The owner of this photo did not allow downloading it."


class StorageQuotaExceeded(UserError):
    code = "storage_quota_exceeded"
    http_status = 403
    default_message = (
        "Your storage is full. Delete some jobs or upgrade your plan, then submit again."
    )


# --- transient errors --------------------------------------------------------------------


class TransientError(HeirloomError):
    kind = ErrorKind.TRANSIENT
    http_status = 503


class ModelUnavailable(TransientError):
    code = "model_unavailable"
    default_message = (
        "The restoration service is busy or unreachable. We retried and gave up; "
        "your credits were refunded. Please try again later."
    )


class StorageUnavailable(TransientError):
    code = "storage_unavailable"
    default_message = "Storage is temporarily unavailable. Your credits were refunded."


class ServiceUnavailable(TransientError):
    code = "service_unavailable"
    default_message = "The job service is temporarily unavailable. Please try again shortly."


class ServicePaused(TransientError):
    code = "service_paused"
    default_message = (
        "New jobs are paused for your plan right now. Nothing was charged; please try again later."
    )


# --- permanent errors --------------------------------------------------------------------


class PermanentError(HeirloomError):
    kind = ErrorKind.PERMANENT
    http_status = 422


class ModelFailed(PermanentError):
    code = "model_failed"
    default_message = (
        "The restoration model could not process this photo. Your credits were refunded."
    )


class ModelTimedOut(PermanentError):
    code = "model_timed_out"
    default_message = (
        "The restoration model took too long on this photo. Your credits were refunded."
    )


class QualityRejected(PermanentError):
    code = "quality_check_failed"
    default_message = (
        "The restored photo came back unusable (blank, cut off or not your picture), even on a "
        "second try. Your credits were refunded."
    )


class Interrupted(PermanentError):
    code = "interrupted"
    default_message = (
        "The job was interrupted on our side before it could finish. Your credits were refunded."
    )


class ContentRejected(PermanentError):
    code = "content_rejected"
    default_message = "This photo cannot be processed. Your credits were refunded."


class InternalError(PermanentError):
    code = "internal_error"
    http_status = 500


class UnexpectedError(InternalError):
    """What a request that failed unexpectedly answers: it may not have charged anything."""

    default_message = "Something went wrong on our side. Please try again later."


# --- cancellation ------------------------------------------------------------------------


class JobCancelled(HeirloomError):
    code = "cancelled"
    kind = ErrorKind.CANCELLED
    http_status = 409
    default_message = "The job was cancelled. Your credits were refunded."


def _all_subclasses(cls: type[HeirloomError]) -> list[type[HeirloomError]]:
    found: list[type[HeirloomError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


ERRORS_BY_CODE: dict[str, type[HeirloomError]] = {
    cls.code: cls for cls in _all_subclasses(HeirloomError) if "code" in cls.__dict__
}

# Activities raise ApplicationError(type=code). These codes are never retried: retrying
# cannot change a user's mistake or a cancellation. Permanent errors decide per raise
# (a model FAILED once is retried; the same failure twice is not).
NON_RETRYABLE_CODES: tuple[str, ...] = tuple(
    sorted(
        code
        for code, cls in ERRORS_BY_CODE.items()
        if cls.kind in (ErrorKind.USER, ErrorKind.CANCELLED) or cls is ContentRejected
    )
)


def message_for(code: str) -> str:
    """The plain-language message for a code, falling back to the generic one."""
    cls = ERRORS_BY_CODE.get(code, InternalError)
    return cls.default_message


def public_message(code: str, message: str | None) -> str:
    """What a user is shown for an error: a user error's own words, else the code's message.

    User errors are written for the person who made them (sizes, limits); every other message
    may carry provider wording, hosts or HTTP statuses, which belong to logs and operators.
    """
    cls = ERRORS_BY_CODE.get(code, InternalError)
    if cls.kind is ErrorKind.USER and message:
        return message
    return cls.default_message
