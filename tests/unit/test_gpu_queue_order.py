"""The GPU queue's dispatch model: priority first, then fair turns across users."""

from __future__ import annotations

from heirloom.domain.gpu_queue import (
    RETRY_PRIORITY,
    Waiting,
    model_step_priority,
    position_in_queue,
)
from heirloom.domain.tiers import DEFAULT_TIER_RULES, Tier


def test_retries_go_first_then_paid_and_forever_then_free() -> None:
    free = DEFAULT_TIER_RULES[Tier.FREE].gpu_priority
    paid = DEFAULT_TIER_RULES[Tier.PAID].gpu_priority
    forever = DEFAULT_TIER_RULES[Tier.FOREVER].gpu_priority
    assert model_step_priority(free, is_retry=True) == RETRY_PRIORITY
    assert RETRY_PRIORITY < paid == forever < free
    assert model_step_priority(free, is_retry=False) == free


def test_a_higher_priority_job_is_ahead_of_every_lower_one() -> None:
    waiting = [Waiting(f"f{i}", "heavy", 4, float(i)) for i in range(20)]
    paid = Waiting("p", "payer", 2, 100.0)
    assert position_in_queue(paid, [*waiting, paid]) == 0
    assert position_in_queue(waiting[0], [*waiting, paid]) == 1


def test_within_a_priority_each_user_takes_turns() -> None:
    heavy = [Waiting(f"h{i}", "heavy", 4, float(i)) for i in range(20)]
    light = [Waiting(f"l{i}", "light", 4, 50.0 + i) for i in range(2)]
    everyone = [*heavy, *light]
    # The light user's first job waits for at most one of the heavy user's twenty.
    assert position_in_queue(light[0], everyone) == 1
    assert position_in_queue(light[1], everyone) == 3
    assert position_in_queue(heavy[5], everyone) == 5 + 2
    assert [position_in_queue(job, heavy) for job in heavy] == list(range(20))
