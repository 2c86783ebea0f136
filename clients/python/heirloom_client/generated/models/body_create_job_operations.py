from typing import Literal

BodyCreateJobOperations = Literal[
    "colorize", "colorize,restore", "restore", "restore,colorize"
]

BODY_CREATE_JOB_OPERATIONS_VALUES: set[BodyCreateJobOperations] = {
    "colorize",
    "colorize,restore",
    "restore",
    "restore,colorize",
}


def check_body_create_job_operations(value: str) -> BodyCreateJobOperations:
    if value in BODY_CREATE_JOB_OPERATIONS_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {BODY_CREATE_JOB_OPERATIONS_VALUES!r}"
    )
