"""The workflows' retry policies, one per kind of step, each declared once.

Imported inside `workflow.unsafe.imports_passed_through()`: the policies are shared constants.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from heirloom.domain.errors import NON_RETRYABLE_CODES

# --- a job's steps (RestorationWorkflow); a user's mistake or a cancel is never retried ------

# Short database steps: retried quickly, a handful of times.
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=5,
    non_retryable_error_types=list(NON_RETRYABLE_CODES),
)
# Money and final state must land, however long the database is away.
MUST_LAND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
    non_retryable_error_types=list(NON_RETRYABLE_CODES),
)
# Decoding, resizing and storing images: a storage hiccup is retried a few times.
IMAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
    non_retryable_error_types=list(NON_RETRYABLE_CODES),
)


def model_retry(attempts: int) -> RetryPolicy:
    """The model step's policy: the tier's attempts. A RunPod job that ends failed is tried
    once more at most (services/runpod/model_step.py)."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=attempts,
        non_retryable_error_types=list(NON_RETRYABLE_CODES),
    )


# --- the operations workflows ------------------------------------------------------------

# A step of the scheduled work (cleanup, reconciliation, event pruning, webhook dispatch) or a
# webhook's give-up: a few tries; the next scheduled run picks up what is left.
OPS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)
# A snapshot or an evaluation a minute late is still that minute's: a few quick attempts,
# then the next tick.
TICK_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=3)
# Erasure must finish: every step is idempotent and retried until it lands.
UNTIL_DONE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)
# A user's export: building or removing the ZIP is worth more tries than housekeeping.
EXPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
)
# An alert webhook that stays down loses the notice after these attempts; the log keeps it.
ALERT_DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=6,
)


def webhook_delivery_retry(first_s: float, longest_s: float) -> RetryPolicy:
    """A webhook delivery backs off exponentially until its receiver answers; the delivery's
    retry window (a schedule-to-close timeout) ends it."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=first_s),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=longest_s),
        maximum_attempts=0,
    )
