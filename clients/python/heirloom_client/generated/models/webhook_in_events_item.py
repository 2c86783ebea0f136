from typing import Literal

WebhookInEventsItem = Literal[
    "album.completed", "job.cancelled", "job.completed", "job.failed", "job.started"
]

WEBHOOK_IN_EVENTS_ITEM_VALUES: set[WebhookInEventsItem] = {
    "album.completed",
    "job.cancelled",
    "job.completed",
    "job.failed",
    "job.started",
}


def check_webhook_in_events_item(value: str) -> WebhookInEventsItem:
    if value in WEBHOOK_IN_EVENTS_ITEM_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {WEBHOOK_IN_EVENTS_ITEM_VALUES!r}"
    )
