from typing import Literal

SetBudgetPeriod = Literal["day", "month"]

SET_BUDGET_PERIOD_VALUES: set[SetBudgetPeriod] = {
    "day",
    "month",
}


def check_set_budget_period(value: str) -> SetBudgetPeriod:
    if value in SET_BUDGET_PERIOD_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {SET_BUDGET_PERIOD_VALUES!r}"
    )
