from typing import Literal

StopScope = Literal["all", "forever", "free", "paid"]

STOP_SCOPE_VALUES: set[StopScope] = {
    "all",
    "forever",
    "free",
    "paid",
}


def check_stop_scope(value: str) -> StopScope:
    if value in STOP_SCOPE_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {STOP_SCOPE_VALUES!r}"
    )
