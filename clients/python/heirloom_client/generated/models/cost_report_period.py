from typing import Literal

CostReportPeriod = Literal["day", "month"]

COST_REPORT_PERIOD_VALUES: set[CostReportPeriod] = {
    "day",
    "month",
}


def check_cost_report_period(value: str) -> CostReportPeriod:
    if value in COST_REPORT_PERIOD_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {COST_REPORT_PERIOD_VALUES!r}"
    )
