"""Export activities: build a user's ZIP, mark it failed, and remove it when its link expires."""

from __future__ import annotations

from temporalio import activity

from heirloom.domain.messages import ExportBuilt, ExportInput
from heirloom.services.context import Services


class ExportActivities:
    """Over the services; registered on the export queue (domain/task_queues.py)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @activity.defn
    def build_export(self, request: ExportInput) -> ExportBuilt:
        built = self.services.exporter.build(
            request.user_id, request.export_id, valid_s=request.valid_s
        )
        return ExportBuilt(kept=built.kept, size=built.size)

    @activity.defn
    def fail_export(self, request: ExportInput) -> None:
        self.services.exporter.fail(request.export_id)

    @activity.defn
    def remove_export(self, request: ExportInput) -> None:
        self.services.exporter.expire(request.user_id, request.export_id)
