"""Export activities: build a user's ZIP, and remove it when its link has expired."""

from __future__ import annotations

from temporalio import activity

from heirloom.domain.messages import ExportInput
from heirloom.services.context import Services
from heirloom.services.privacy.export import export_key


class ExportActivities:
    """Over the services; registered on the operations queue."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @activity.defn
    def build_export(self, request: ExportInput) -> str:
        return self.services.exporter.build(request.user_id, request.export_id)

    @activity.defn
    def remove_export(self, request: ExportInput) -> None:
        self.services.storage.delete(export_key(request.user_id, request.export_id))
