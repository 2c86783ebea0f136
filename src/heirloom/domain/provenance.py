"""What made a job's result, as the GPU handler reports it: model id and revision, LoRA and
its revision, steps, CFG, the seed and the handler's version (and its engine).

The handler's answer is outside input: only these fields, as JSON scalars of bounded size, are
recorded on the job and shown in its JSON, export and cost report.
"""

from __future__ import annotations

from typing import Any, Final

FIELDS: Final = (
    "model_id",
    "revision",
    "lora",
    "lora_revision",
    "steps",
    "cfg",
    "seed",
    "handler_version",
    "engine",
)
_MAX_TEXT: Final = 300


def provenance_of(raw: object) -> dict[str, Any] | None:
    """The known fields of a handler's `provenance` answer; None when it sent none."""
    if not isinstance(raw, dict):
        return None
    kept: dict[str, Any] = {}
    for name in FIELDS:
        value = raw.get(name)
        if isinstance(value, str):
            kept[name] = value[:_MAX_TEXT]
        elif isinstance(value, bool) or value is None:
            kept[name] = None
        elif isinstance(value, int | float):
            kept[name] = value
        else:
            kept[name] = None
    return kept
