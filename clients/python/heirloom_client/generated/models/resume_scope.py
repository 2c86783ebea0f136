from typing import Literal

ResumeScope = Literal["all", "forever", "free", "paid"]

RESUME_SCOPE_VALUES: set[ResumeScope] = {
    "all",
    "forever",
    "free",
    "paid",
}


def check_resume_scope(value: str) -> ResumeScope:
    if value in RESUME_SCOPE_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {RESUME_SCOPE_VALUES!r}"
    )
