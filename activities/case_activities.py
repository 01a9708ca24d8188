"""The activity class the worker registers; one method per name of ``models.io.Io``."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import Engine
from temporalio import activity

from activities import archive, documents, sms
from activities.notify import Outbox
from channels.config import read_channels
from config.settings import Settings
from db import help_requests, store
from door import digest_opening, watch_student
from models.case import CaseData, DeliveryBatch, DocumentRequest, LinkSms, NotificationRequest, StepRecord
from models.digest import DigestRequest
from models.help import HelpData
from models.incident import IncidentData
from models.io import Io
from models.term_report import TermReportRequest
from models.watch import WatchData, WatchRequest
from ops import metrics
from paper.typeset import Typesetter


def typesetter_for(settings: Settings) -> Typesetter:
    """The documents' typesetter; FontMissing when no CJK font is installed (nothing starts then)."""
    return _typesetter(settings.templates_dir, tuple(settings.document_fonts), tuple(settings.font_paths))


@lru_cache(maxsize=4)
def _typesetter(templates, fonts, font_paths) -> Typesetter:
    return Typesetter(templates, fonts, list(font_paths))


@contextmanager
def _projecting(data: CaseData):
    """A projection attempt, for the operations metrics: the step it carries (its latest event)
    counts as lag until it commits; then the events it wrote are counted, and the delay from the
    oldest of them to the commit observed."""
    step = max((e.at for e in data.events), default=None) or datetime.now(UTC)
    metrics.PROJECTION_LAG.attempt(data.case_id, step)
    written: list[dict] = []
    yield written
    metrics.PROJECTION_LAG.committed(data.case_id, min((e["at"] for e in written), default=step))
    metrics.events_projected(data.school_id, written)


class CaseActivities:
    def __init__(self, engine: Engine, settings: Settings, typesetter: Typesetter | None = None) -> None:
        self._engine = engine
        self._settings = settings
        self._typesetter = typesetter or typesetter_for(settings)
        self._outbox = Outbox(engine, read_channels(settings.channels_file), settings.webhook_url,
                              settings.public_url)

    @activity.defn(name=Io.project_case.value)
    def project_case(self, data: CaseData) -> None:
        """Mirror the case into the read model (keyed by case and event sequence)."""
        with _projecting(data) as written:
            store.project_case(self._engine, data, written)

    @activity.defn(name=Io.project_step.value)
    def project_step(self, step: StepRecord) -> list[str]:
        """One step in one commit: the case, its notifications (naming their people) and their outbox
        rows; returns the notifications that have a row to send."""
        now = datetime.now(UTC)
        with _projecting(step.case) as written:
            return store.project_step(self._engine, step.case,
                                      [self._outbox.rows(n, step.case, now) for n in step.notifications], written)

    @activity.defn(name=Io.deliver.value)
    def deliver(self, batch: DeliveryBatch) -> None:
        """Send the unsent outbox rows of a step's notifications."""
        self._outbox.deliver(batch.notifications)

    @activity.defn(name=Io.notify.value)
    def notify(self, request: NotificationRequest) -> None:
        """Histories before the step outbox: write the outbox rows, then send what is unsent."""
        self._outbox.send(request)

    @activity.defn(name=Io.archive_closed_cases.value)
    async def archive_closed_cases(self) -> int:
        """Copy finished cases' histories into the hash-chained archive."""
        return await archive.archive_closed(activity.client(), self._engine)

    @activity.defn(name=Io.render_document.value)
    def render_document(self, request: DocumentRequest) -> None:
        """Typeset the document (PDF/A and text, both languages), seal it into the data dir, record it."""
        documents.render(self._engine, request, self._settings.documents_dir, self._typesetter,
                         public_url=self._settings.public_url)

    @activity.defn(name=Io.project_incident.value)
    def project_incident(self, data: IncidentData) -> None:
        """Mirror an extreme event's review into the read model."""
        store.project_incident(self._engine, data)

    @activity.defn(name=Io.render_incident_report.value)
    def render_incident_report(self, data: IncidentData) -> None:
        """Typeset the submitted review report and record it."""
        documents.render_incident(self._engine, data, self._settings.documents_dir, self._typesetter)

    @activity.defn(name=Io.render_term_report.value)
    def render_term_report(self, request: TermReportRequest) -> str:
        """Count the school's term (masked under 5), typeset its report and record it; its document id."""
        return documents.render_term(self._engine, request, self._settings.documents_dir, self._typesetter)

    @activity.defn(name=Io.project_watch.value)
    def project_watch(self, data: WatchData) -> None:
        """Mirror a watch-listed student's entry into the read model."""
        store.project_watch(self._engine, data)

    @activity.defn(name=Io.watch_student.value)
    async def watch_student(self, request: WatchRequest) -> None:
        """Put a student on the watch list: their WatchWorkflow started, or joined (idempotent: the workflow
        records each reason and source once)."""
        await watch_student(activity.client(), self._settings.task_queue, request)

    @activity.defn(name=Io.digest_opening.value)
    async def digest_opening(self, request: DigestRequest) -> None:
        """A new case into its school's daily digest for the leadership group (started or joined)."""
        await digest_opening(activity.client(), self._settings.task_queue, request)

    @activity.defn(name=Io.project_help.value)
    def project_help(self, data: HelpData) -> None:
        """Mirror a help request's state into the read model (its words were written by the help page)."""
        help_requests.project(self._engine, data)

    @activity.defn(name=Io.send_link_sms.value)
    def send_link_sms(self, request: LinkSms) -> None:
        """The guardian's answer link, by SMS to the number on record, through the school's SMS gateway."""
        sms.send_link(self._engine, self._outbox.channels, self._settings.public_url, request)

    def all(self) -> list:
        """Every activity, for the worker to register."""
        return [self.project_case, self.project_step, self.deliver, self.notify, self.render_document,
                self.archive_closed_cases, self.project_incident, self.render_incident_report, self.project_watch,
                self.watch_student, self.digest_opening, self.render_term_report, self.send_link_sms,
                self.project_help]
