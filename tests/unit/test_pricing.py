"""Prices, tier rules and the one quote rule, as pure functions; and their settings overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from heirloom.config import Settings
from heirloom.domain.errors import (
    DailyLimitReached,
    InsufficientCredits,
    InvalidRequest,
    TooManyActiveJobs,
)
from heirloom.domain.jobs import JobStatus, Operation, operations_label, parse_operations
from heirloom.domain.pricing import (
    JobQuote,
    Prices,
    day_start,
    job_cost,
    next_daily_reset,
    quote_job,
)
from heirloom.domain.tiers import DEFAULT_TIER_RULES, Tier, TierRules

RESTORE = (Operation.RESTORE,)
COLORIZE = (Operation.COLORIZE,)
BOTH = (Operation.RESTORE, Operation.COLORIZE)
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MIDNIGHT_AFTER = datetime(2026, 11, 26, tzinfo=UTC)


def quote(
    operations: tuple[Operation, ...] = RESTORE,
    *,
    tier: Tier = Tier.FREE,
    balance: int = 100,
    jobs_today: int = 0,
    prices: Prices | None = None,
    tier_rules: dict[Tier, TierRules] | None = None,
    now: datetime = NOON,
) -> JobQuote:
    return quote_job(
        operations=operations,
        tier=tier,
        balance=balance,
        jobs_today=jobs_today,
        prices=prices or Prices(),
        tier_rules=tier_rules or DEFAULT_TIER_RULES,
        now=now,
    )


# --- prices --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operations", "price"),
    [("restore", 2), ("colorize", 3), ("restore,colorize", 4), ("colorize,restore", 4)],
)
def test_each_operation_set_has_its_documented_price(operations: str, price: int) -> None:
    assert Prices().cost(parse_operations(operations)) == price
    assert quote(parse_operations(operations)).cost == price


def test_restore_and_colorize_together_cost_less_than_apart() -> None:
    prices = Prices()
    assert prices.cost(BOTH) < prices.cost(RESTORE) + prices.cost(COLORIZE)


def test_repeating_an_operation_does_not_change_its_price() -> None:
    assert Prices().cost((Operation.RESTORE, Operation.RESTORE)) == 2


def test_no_operations_have_no_price() -> None:
    with pytest.raises(ValueError, match="no price"):
        Prices().cost(())


def test_prices_are_immutable() -> None:
    with pytest.raises(ValidationError):
        Prices().restore = 0  # type: ignore[misc]


# --- parsing operations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("restore", RESTORE),
        ("colorize", COLORIZE),
        ("restore,colorize", BOTH),
        ("colorize,restore", BOTH),
        (" Restore , COLORIZE ", BOTH),
        ("restore,restore", RESTORE),
        ("colorize,restore,colorize", BOTH),
        ("restore,,", RESTORE),
    ],
)
def test_operations_parse_to_one_canonical_order(raw: str, expected: tuple[Operation]) -> None:
    assert parse_operations(raw) == expected


def test_operations_label_is_the_canonical_form() -> None:
    assert operations_label(parse_operations("colorize, restore")) == "restore,colorize"


@pytest.mark.parametrize("raw", ["", " ", ",", " , "])
def test_empty_operations_are_refused_with_the_choices(raw: str) -> None:
    with pytest.raises(ValueError, match="restore, colorize"):
        parse_operations(raw)


@pytest.mark.parametrize("raw", ["sharpen", "restore,sharpen", "restore;colorize", "upscale"])
def test_unknown_operations_are_refused_by_name(raw: str) -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        parse_operations(raw)


# --- daily limit ---------------------------------------------------------------------------


def test_free_tier_third_job_of_the_day_is_allowed() -> None:
    assert quote(jobs_today=2).cost == 2


def test_free_tier_fourth_job_of_the_day_is_refused_until_utc_midnight() -> None:
    with pytest.raises(DailyLimitReached) as refused:
        quote(jobs_today=3)
    error = refused.value
    assert (error.code, error.http_status) == ("daily_limit_reached", 429)
    assert error.details == {"limit": 3, "resets_at": MIDNIGHT_AFTER}
    assert "3 jobs per day" in error.message
    assert "2026-11-26 00:00 UTC" in error.message
    assert error.to_dict()["details"]["resets_at"] == "2026-11-26T00:00:00+00:00"


def test_daily_limit_resets_at_the_next_utc_midnight() -> None:
    last_second = datetime(2026, 11, 25, 23, 59, 59, 999999, tzinfo=UTC)
    assert day_start(last_second) == datetime(2026, 11, 25, tzinfo=UTC)
    assert next_daily_reset(last_second) == MIDNIGHT_AFTER
    # Midnight itself already belongs to the new day.
    assert day_start(MIDNIGHT_AFTER) == MIDNIGHT_AFTER
    assert next_daily_reset(MIDNIGHT_AFTER) == MIDNIGHT_AFTER + timedelta(days=1)


def test_daily_limit_days_are_utc_days_whatever_the_clock_zone() -> None:
    # 23:30 in New York is already the next day in UTC.
    new_york = timezone(timedelta(hours=-5))
    late_evening = datetime(2026, 11, 25, 23, 30, tzinfo=new_york)
    assert day_start(late_evening) == MIDNIGHT_AFTER
    assert next_daily_reset(late_evening) == MIDNIGHT_AFTER + timedelta(days=1)
    assert next_daily_reset(late_evening).tzinfo == UTC


def test_daily_limit_reset_crosses_months_and_years() -> None:
    assert next_daily_reset(datetime(2026, 12, 31, 18, tzinfo=UTC)) == datetime(
        2027, 1, 1, tzinfo=UTC
    )


@pytest.mark.parametrize("tier", list(Tier))
def test_every_tier_caps_daily_and_in_progress_jobs(tier: Tier) -> None:
    rules = DEFAULT_TIER_RULES[tier]
    assert rules.daily_job_limit is not None
    assert rules.max_active_jobs is not None
    with pytest.raises(DailyLimitReached):
        quote(tier=tier, jobs_today=rules.daily_job_limit)
    with pytest.raises(TooManyActiveJobs):
        quote_job(
            operations=RESTORE,
            tier=tier,
            balance=100,
            jobs_today=0,
            prices=Prices(),
            tier_rules=DEFAULT_TIER_RULES,
            now=NOON,
            active_jobs=rules.max_active_jobs,
        )
    assert quote(tier=tier, jobs_today=rules.daily_job_limit - 1).tier is tier


def test_the_daily_limit_is_reported_before_the_balance() -> None:
    # Buying credits would not help a user at the limit, so they are told about the limit.
    with pytest.raises(DailyLimitReached):
        quote(balance=0, jobs_today=3)


# --- balance -------------------------------------------------------------------------------


@pytest.mark.parametrize(("operations", "cost"), [(RESTORE, 2), (COLORIZE, 3), (BOTH, 4)])
def test_a_balance_equal_to_the_cost_is_enough(operations: tuple[Operation], cost: int) -> None:
    assert quote(operations, tier=Tier.PAID, balance=cost).cost == cost


@pytest.mark.parametrize(("operations", "cost"), [(RESTORE, 2), (COLORIZE, 3), (BOTH, 4)])
def test_one_credit_short_is_refused_with_cost_and_balance(
    operations: tuple[Operation], cost: int
) -> None:
    with pytest.raises(InsufficientCredits) as refused:
        quote(operations, tier=Tier.PAID, balance=cost - 1)
    error = refused.value
    assert (error.code, error.http_status) == ("insufficient_credits", 402)
    assert error.details == {"cost": cost, "balance": cost - 1}
    assert f"costs {cost} credits but your balance is {cost - 1}" in error.message


def test_a_quote_carries_the_tier_and_its_rules() -> None:
    accepted = quote(tier=Tier.FREE)
    assert accepted == JobQuote(cost=2, tier=Tier.FREE, rules=DEFAULT_TIER_RULES[Tier.FREE])


# --- tiers ---------------------------------------------------------------------------------


def test_each_tier_has_its_own_task_queue() -> None:
    assert {tier: tier.task_queue for tier in Tier} == {
        Tier.FREE: "heirloom-free",
        Tier.PAID: "heirloom-paid",
        Tier.FOREVER: "heirloom-forever",
    }


def test_default_tier_table_matches_the_documented_one() -> None:
    table = {
        tier: (r.output_long_side, r.watermark, r.model_attempts, r.daily_job_limit)
        for tier, r in DEFAULT_TIER_RULES.items()
    }
    assert table == {
        Tier.FREE: (854, True, 2, 3),
        Tier.PAID: (1280, False, 4, 100),
        Tier.FOREVER: (1280, False, 4, 100),
    }


@pytest.mark.parametrize(
    "bad", [{"output_long_side": 0}, {"model_attempts": 0}, {"output_long_side": -1}]
)
def test_impossible_tier_rules_are_refused(bad: dict[str, int]) -> None:
    values: dict[str, object] = {"output_long_side": 854, "watermark": True, "model_attempts": 2}
    with pytest.raises(ValidationError):
        TierRules.model_validate({**values, **bad})


def test_job_status_is_final_for_the_three_endings_and_what_follows_them() -> None:
    assert {status for status in JobStatus if not status.is_final} == {
        JobStatus.QUEUED,
        JobStatus.RUNNING,
    }
    assert {status for status in JobStatus if not status.has_files} == {
        JobStatus.EXPIRED,
        JobStatus.DELETED,
    }


# --- settings overrides --------------------------------------------------------------------


def test_prices_and_tier_rules_come_from_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEIRLOOM_PRICES__RESTORE", "5")
    monkeypatch.setenv("HEIRLOOM_PRICES__RESTORE_COLORIZE", "7")
    monkeypatch.setenv(
        "HEIRLOOM_TIER_RULES",
        '{"free": {"output_long_side": 640, "watermark": true, "model_attempts": 2,'
        ' "daily_job_limit": 1}}',
    )
    settings = Settings()
    assert settings.prices == Prices(restore=5, colorize=3, restore_colorize=7)
    free = settings.tier_rules[Tier.FREE]
    assert (free.output_long_side, free.daily_job_limit) == (640, 1)
    # Tiers not named keep their defaults.
    assert settings.tier_rules[Tier.PAID] == DEFAULT_TIER_RULES[Tier.PAID]
    assert settings.tier_rules[Tier.FOREVER] == DEFAULT_TIER_RULES[Tier.FOREVER]

    assert quote(BOTH, prices=settings.prices, tier_rules=settings.tier_rules).cost == 7
    with pytest.raises(DailyLimitReached) as refused:
        quote(jobs_today=1, prices=settings.prices, tier_rules=settings.tier_rules)
    assert refused.value.details["limit"] == 1


def test_settings_built_in_code_override_prices_and_limits() -> None:
    rules = TierRules(output_long_side=1000, watermark=False, model_attempts=3, daily_job_limit=5)
    settings = Settings(prices=Prices(colorize=9), tier_rules={Tier.PAID: rules})
    assert quote(COLORIZE, prices=settings.prices, tier_rules=settings.tier_rules).cost == 9
    with pytest.raises(DailyLimitReached):
        quote(tier=Tier.PAID, jobs_today=5, tier_rules=settings.tier_rules)
    assert settings.tier_rules[Tier.FREE] == DEFAULT_TIER_RULES[Tier.FREE]


def test_invalid_tier_rules_in_the_environment_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEIRLOOM_TIER_RULES", '{"gold": {"output_long_side": 640}}')
    with pytest.raises(ValidationError):
        Settings()


def test_a_partial_tier_override_keeps_the_tiers_other_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEIRLOOM_TIER_RULES", '{"free": {"output_long_side": 640}}')
    free = Settings().tier_rules[Tier.FREE]
    default = DEFAULT_TIER_RULES[Tier.FREE]
    assert free.output_long_side == 640
    assert (free.watermark, free.daily_job_limit, free.storage_days, free.model_attempts) == (
        default.watermark,
        default.daily_job_limit,
        default.storage_days,
        default.model_attempts,
    )


def test_a_tier_limit_can_be_lifted_with_null(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEIRLOOM_TIER_RULES", '{"free": {"daily_job_limit": null}}')
    assert Settings().tier_rules[Tier.FREE].daily_job_limit is None


def test_an_owner_cancel_refunds_all_before_the_model_started_and_keeps_half_after() -> None:
    prices = Prices()
    assert prices.cancel_kept_percent == 50
    assert [prices.cancel_refund(c, model_started=False) for c in (2, 3, 4)] == [2, 3, 4]
    # The kept part is rounded up.
    assert [prices.cancel_refund(c, model_started=True) for c in (2, 3, 4)] == [1, 1, 2]
    assert Prices(cancel_kept_percent=0).cancel_refund(4, model_started=True) == 4
    assert Prices(cancel_kept_percent=100).cancel_refund(4, model_started=True) == 0
    assert "50% of the price" in prices.cancel_rule()
    with pytest.raises(ValidationError):
        Prices(cancel_kept_percent=101)


def test_each_candidate_beyond_the_first_adds_the_tiers_percent_rounded_up() -> None:
    paid = DEFAULT_TIER_RULES[Tier.PAID]
    assert [job_cost(2, n, paid) for n in (1, 2, 3, 4)] == [2, 3, 4, 5]
    assert job_cost(3, 2, paid) == 3 + 2  # 50% of 3, rounded up
    whole = paid.model_copy(update={"candidate_price_percent": 100})
    assert job_cost(4, 3, whole) == 12


@pytest.mark.parametrize("candidates", [0, 2, 5])
def test_candidates_past_the_tiers_limit_are_refused(candidates: int) -> None:
    with pytest.raises(InvalidRequest) as refused:
        job_cost(2, candidates, DEFAULT_TIER_RULES[Tier.FREE])
    assert refused.value.details["max_candidates"] == 1
