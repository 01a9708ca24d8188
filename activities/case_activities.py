"""The activity class the worker registers; one method per name of ``models.io.Io``."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from activities import archive, documents, notify
from config.settings import Settings
from models import store
from models.case import CaseData, DocumentRequest, NotificationRequest
from models.io import Io


class CaseActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    @activity.defn(name=Io.project_case.value)
    def project_case(self, data: CaseData) -> None:
        """Mirror the case into the read model (keyed by case and event sequence)."""
        store.project_case(self._engine, data)

    @activity.defn(name=Io.notify.value)
    def notify(self, request: NotificationRequest) -> None:
        """Record in the outbox, then deliver to the webhook if one is set."""
        notify.send(self._engine, request, self._settings.webhook_url)

    @activity.defn(name=Io.archive_closed_cases.value)
    async def archive_closed_cases(self) -> int:
        """Copy finished cases' histories into the hash-chained archive."""
        return await archive.archive_closed(activity.client(), self._engine)

    @activity.defn(name=Io.render_document.value)
    def render_document(self, request: DocumentRequest) -> None:
        """Render the zh-CN document into the data dir and record it."""
        documents.render(self._engine, request, self._settings.documents_dir)

    def all(self) -> list:
        """Every activity, for the worker to register."""
        return [self.project_case, self.notify, self.render_document, self.archive_closed_cases]
