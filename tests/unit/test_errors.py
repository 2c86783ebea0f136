"""The error taxonomy: stable codes, HTTP statuses, retry decisions and plain messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heirloom.domain import errors
from heirloom.domain.errors import (
    ERRORS_BY_CODE,
    NON_RETRYABLE_CODES,
    ErrorKind,
    HeirloomError,
    message_for,
)

ALL_ERRORS = sorted(ERRORS_BY_CODE.values(), key=lambda cls: cls.code)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("invalid_request", 400),
        ("not_an_image", 400),
        ("unauthorized", 401),
        ("insufficient_credits", 402),
        ("forbidden", 403),
        ("not_found", 404),
        ("idempotency_key_reused", 409),
        ("job_already_finished", 409),
        ("image_too_large", 413),
        ("daily_limit_reached", 429),
        ("internal_error", 500),
        ("model_unavailable", 503),
        ("result_expired", 410),
        ("share_gone", 410),
        ("storage_quota_exceeded", 403),
    ],
)
def test_codes_map_to_their_http_status(code: str, status: int) -> None:
    assert ERRORS_BY_CODE[code].http_status == status


def test_every_error_class_has_its_own_code() -> None:
    classes = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type)
        and issubclass(cls, HeirloomError)
        and cls is not HeirloomError
        and "code" in cls.__dict__
    ]
    assert len({cls.code for cls in classes}) == len(classes)
    assert set(ERRORS_BY_CODE.values()) == set(classes)


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.code)
def test_user_errors_are_4xx_and_never_retried(cls: type[HeirloomError]) -> None:
    if cls.kind is ErrorKind.USER:
        assert 400 <= cls.http_status < 500
        assert cls.code in NON_RETRYABLE_CODES


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.code)
def test_only_transient_errors_are_retryable(cls: type[HeirloomError]) -> None:
    error = HeirloomError.from_code(cls.code, "x", {})
    assert error.retryable is (cls.kind is ErrorKind.TRANSIENT)
    if error.retryable:
        assert cls.code not in NON_RETRYABLE_CODES


def test_non_retryable_codes_cover_user_mistakes_cancellation_and_rejected_content() -> None:
    assert {"insufficient_credits", "daily_limit_reached", "not_an_image"} <= set(
        NON_RETRYABLE_CODES
    )
    assert {"cancelled", "content_rejected"} <= set(NON_RETRYABLE_CODES)
    # A model that failed or timed out once may succeed on the next attempt.
    assert not {"model_failed", "model_timed_out", "model_unavailable"} & set(NON_RETRYABLE_CODES)
    assert list(NON_RETRYABLE_CODES) == sorted(NON_RETRYABLE_CODES)


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.code)
def test_default_messages_are_sentences_for_people(cls: type[HeirloomError]) -> None:
    message = message_for(cls.code)
    assert message[0].isupper()
    assert message.rstrip().endswith(".")
    assert "_" not in message
    assert cls.__name__ not in message


def test_failures_after_a_charge_say_the_credits_were_refunded() -> None:
    for code in ("model_failed", "model_timed_out", "model_unavailable", "cancelled"):
        assert "refunded" in message_for(code)


def test_an_error_reported_by_an_activity_comes_back_as_the_same_error() -> None:
    resets_at = datetime(2026, 11, 26, tzinfo=UTC)
    original = errors.DailyLimitReached(limit=3, resets_at=resets_at)
    body = original.to_dict()
    rebuilt = HeirloomError.from_code(body["code"], body["message"], body["details"])
    assert isinstance(rebuilt, errors.DailyLimitReached)
    assert rebuilt.http_status == 429
    assert rebuilt.to_dict() == body
    assert body["details"] == {"limit": 3, "resets_at": "2026-11-26T00:00:00+00:00"}


def test_an_unknown_code_becomes_an_internal_error() -> None:
    rebuilt = HeirloomError.from_code("flux_capacitor", "boom", {})
    assert isinstance(rebuilt, errors.InternalError)
    assert rebuilt.http_status == 500
    assert message_for("flux_capacitor") == errors.InternalError.default_message


def test_an_error_without_details_has_no_details_field() -> None:
    assert errors.Forbidden().to_dict() == {
        "code": "forbidden",
        "message": errors.Forbidden.default_message,
    }
