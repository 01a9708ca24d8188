"""SQLModel tables of the read model. Alembic migrations in db/migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from crypto.sealed import SealedJSON, SealedText
from models.incident import IncidentFields
from models.records import (
    CaseListFields,
    DeliveryFields,
    DocumentFields,
    NotificationFields,
    ScreeningJobFields,
    SignedCopyFields,
)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a stored timestamp must carry its timezone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _sealed(kind) -> Any:
    """A column encrypted at rest (crypto/sealed.py)."""
    return Field(default=None, sa_column=Column(kind, nullable=False))


def _json() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=False))


class CaseRow(SQLModel, CaseListFields, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        # every dashboard count from the index alone; also serves filters by state
        Index("ix_cases_school_summary", "school_id", "state", "risk_level", "on_time", "assessed_after_s",
              "intervened_after_s"),
        Index("ix_cases_school_due", "school_id", "next_due_at"),
        Index("ix_cases_school_opened", "school_id", "opened_at"),
        Index("ix_cases_school_assessed_after", "school_id", "assessed_after_s"),
        Index("ix_cases_school_intervened_after", "school_id", "intervened_after_s"),
        Index("ix_cases_school_failed_effects", "school_id", "failed_effect_count"),
        Index("ix_cases_school_class", "school_id", "class_id"),
        # a person's own cases: the one they opened, assessed or own, whatever their class (issue 25)
        Index("ix_cases_school_owner", "school_id", "owner"),
        Index("ix_cases_school_opener", "school_id", "opener"),
        Index("ix_cases_school_assessor", "school_id", "assessor"),
    )

    case_id: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=32)
    risk_level: str | None = Field(default=None, max_length=16)
    class_id: str | None = Field(default=None, max_length=64)  # the directory's class, when it has one
    student: dict = _sealed(SealedJSON("cases.student"))
    risk_factors: list = _json()
    warning_signals: list = _json()
    screening_flags: list = _json()  # what a screening raised (a reason of its own)
    summary: str = _sealed(SealedText("cases.summary"))
    opened_by: dict = _json()
    policy: dict = _json()
    policy_version: str = Field(max_length=64)
    workflow_code_version: str = Field(max_length=16)
    guardian_notified: bool = False
    guardian_consented: bool = False
    opened_at: datetime = _ts()
    updated_at: datetime = _ts()
    closed_at: datetime | None = _ts(nullable=True)
    next_due_at: datetime | None = _ts(nullable=True)
    last_seq: int = 0
    # for the supervisors' dashboard, kept by the projection
    assessed_after_s: int | None = None  # identification -> assessment
    intervened_after_s: int | None = None  # identification -> intervention
    on_time: bool | None = None  # the 90 % measure (db.store.handled_in_time); None: not high, or pending
    counts: dict = _json()  # how often each action was taken (limits of records-only actions)
    failed_effects: list = _json()  # notifications or documents that failed for good
    failed_effect_count: int = 0
    features: list = _json()  # the behaviours the case's workflow runs with
    opener: str | None = Field(default=None, max_length=64)  # who opened the case (opened_by's staff id)
    assessor: str | None = Field(default=None, max_length=64)  # who first assessed it
    owner: str | None = Field(default=None, max_length=64)  # its named psychology teacher (负责心理教师)
    has_plan: bool = False
    closure_proposal: dict | None = Field(
        default=None, sa_column=Column(SealedJSON("cases.closure_proposal"), nullable=True)
    )

    @property
    def grade(self) -> str:
        return self.student["grade"]

    @property
    def class_name(self) -> str:
        return self.student["class_name"]


class CaseEventRow(SQLModel, table=True):
    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_request", "case_id", "request"),
                      Index("ix_case_events_action", "action", "case_id"))

    case_id: str = Field(primary_key=True, foreign_key="cases.case_id", max_length=64)
    seq: int = Field(primary_key=True)
    at: datetime = _ts()
    action: str = Field(max_length=32)
    actor: str = Field(max_length=64)
    actor_role: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str = Field(max_length=32)
    obligation: str | None = Field(default=None, max_length=32)
    escalation_level: int | None = None
    detail: dict = _sealed(SealedJSON("case_events.detail"))
    #: the request that caused it, under an Idempotency-Key (a retry finds it here)
    request: str | None = Field(default=None, max_length=64)


class CaseDeadlineRow(SQLModel, table=True):
    """A case's obligation. ``school_id`` and ``open_due_at`` (the due time while the
    obligation is unmet and the case open, else null) are copies that let the
    dashboard count and list a school's overdue obligations from one index."""

    __tablename__ = "case_deadlines"
    __table_args__ = (Index("ix_deadlines_school_open_due", "school_id", "open_due_at"),)

    case_id: str = Field(primary_key=True, foreign_key="cases.case_id", max_length=64)
    obligation: str = Field(max_length=32)  # recurs (follow-up reviews): the position is the key
    school_id: str = Field(max_length=64)
    open_due_at: datetime | None = _ts(nullable=True)
    position: int = Field(default=0, primary_key=True)  # the order the workflow opened them in
    responsible_role: str = Field(max_length=32)
    due_at: datetime = _ts()
    met_at: datetime | None = _ts(nullable=True)
    escalation_level: int = 0
    escalated_at: list = _json()


class NotificationRow(SQLModel, NotificationFields, table=True):
    """The outbox: one row per notification, delivered at most once per receiver ack."""

    __tablename__ = "notifications"

    notification_id: str = Field(primary_key=True, max_length=160)
    case_id: str = Field(index=True, max_length=64)
    school_id: str = Field(max_length=64)
    event: str = Field(max_length=40)
    recipient_role: str = Field(max_length=32)
    recipient_roles: list = _json()
    # the people of the directory it was for (none without a directory)
    recipient_staff: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    obligation: str | None = Field(default=None, max_length=32)
    due_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    delivered_at: datetime | None = _ts(nullable=True)
    delivery_attempts: int = 0


class DocumentRow(SQLModel, DocumentFields, table=True):
    """A document: a case's, or an extreme event's review (``incident_id``).

    ``path``, ``media_type`` and ``sha256`` are its main form (the PDF in the school's language;
    Markdown for documents made before paper). ``forms`` holds every stored form by
    ``"<media type>;<language>"``: ``{"path": ..., "sha256": ...}``, each file sealed at rest.
    """

    __tablename__ = "documents"

    document_id: str = Field(primary_key=True, max_length=160)
    case_id: str | None = Field(default=None, index=True, max_length=64)
    incident_id: str | None = Field(default=None, index=True, max_length=64)
    school_id: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    path: str = Field(max_length=500)
    forms: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()


class SignedCopyRow(SQLModel, SignedCopyFields, table=True):
    """A scan or photo of a signed document (the guardian's receipt), sealed on disk."""

    __tablename__ = "signed_copies"

    copy_id: str = Field(primary_key=True, max_length=64)
    document_id: str = Field(index=True, max_length=160)
    case_id: str = Field(max_length=64)
    path: str = Field(max_length=500)
    uploaded_at: datetime = _ts()


class DeliveryRow(SQLModel, DeliveryFields, table=True):
    """The outbox: one row per (notification, person or group, channel), sent at most once.

    ``delivery_id`` is stable (a digest of the three), so a retried activity or a restarted
    worker finds the row and never sends what was already sent. ``status``: pending, sent,
    failing (a send failed; retried with backoff), refused (the receiver will never take it).
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status", "status", "created_at"),
                      Index("ix_deliveries_school_status", "school_id", "status"))

    delivery_id: str = Field(primary_key=True, max_length=64)
    notification_id: str = Field(index=True, max_length=160)
    school_id: str = Field(max_length=64)
    created_at: datetime = _ts()
    last_attempt_at: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)


class IncidentRow(SQLModel, IncidentFields, table=True):
    """An extreme event and its review report (the IncidentReviewWorkflow's read model)."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_school_state", "school_id", "state"),)

    incident_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=32)
    occurred_at: datetime = _ts()
    place: str = _sealed(SealedText("incidents.place"))
    summary: str = _sealed(SealedText("incidents.summary"))
    recorded_at: datetime = _ts()
    due_at: datetime = _ts()
    report: dict = _sealed(SealedJSON("incidents.report"))  # the draft or submitted sections
    #: who investigates, the group, the school's account (models.incident.Investigation); none before issue 28
    investigation: dict | None = Field(default=None, sa_column=Column(SealedJSON("incidents.investigation"),
                                                                      nullable=True))
    submitted_at: datetime | None = _ts(nullable=True)
    last_seq: int = 0


class WatchRow(SQLModel, table=True):
    """A student on the watch list (重点关注): the WatchWorkflow's read model."""

    __tablename__ = "watch_entries"
    __table_args__ = (Index("ix_watch_school_class", "school_id", "state", "class_id"),)

    watch_id: str = Field(primary_key=True, max_length=64)
    school_id: str = Field(max_length=64)
    student_ref: str = Field(max_length=64)
    class_id: str | None = Field(default=None, max_length=64)
    student: dict = _sealed(SealedJSON("watch_entries.student"))
    reasons: list = _json()  # [{"reason", "source", "by", "owner", "at"}]
    owner: str | None = Field(default=None, max_length=64)
    state: str = Field(max_length=16)  # watching, released
    review_due_at: datetime | None = _ts(nullable=True)
    escalation_level: int = 0
    updated_at: datetime = _ts()
    last_seq: int = 0


class IdempotencyRow(SQLModel, table=True):
    """An ``Idempotency-Key``: the same staff member, key and request get the first answer again.

    ``POST /cases`` keeps the case it opened; an action keeps its answer (``status_code`` and the
    sealed ``response``), written once the first call has one.
    """

    __tablename__ = "idempotency_keys"

    staff_id: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=200)
    request_sha256: str = Field(max_length=64)
    case_id: str = Field(max_length=64)
    created_at: datetime = _ts()
    status_code: int | None = None
    response: str | None = Field(default=None, sa_column=Column(SealedText("idempotency_keys.response"),
                                                                  nullable=True))


class ArchivedHistoryRow(SQLModel, table=True):
    """A closed case's history (one run), kept past Temporal's retention, hash-chained.

    ``entry_sha256`` covers the row's identity, its history's digest and the
    previous row's ``entry_sha256``: removing or changing any row breaks the
    chain from there on. ``archive_head`` remembers the last row.
    """

    __tablename__ = "archived_histories"
    __table_args__ = (Index("ix_archive_case_run", "case_id", "run_id", unique=True),)

    seq: int = Field(primary_key=True)
    case_id: str = Field(max_length=64)
    workflow_id: str = Field(max_length=80)
    run_id: str = Field(max_length=64)
    run_index: int
    closed_at: datetime | None = _ts(nullable=True)
    archived_at: datetime = _ts()
    history: str
    history_sha256: str = Field(max_length=64)
    prev_sha256: str = Field(max_length=64)
    entry_sha256: str = Field(max_length=64)


class ChainHead(SQLModel):
    """The last row of a hash chain (one row, id 1): removing the newest entry shows."""

    id: int = Field(default=1, primary_key=True)
    last_seq: int = 0
    head_sha256: str = Field(default="0" * 64, max_length=64)


class ArchiveHeadRow(ChainHead, table=True):
    __tablename__ = "archive_head"


class AccessLogRow(SQLModel, table=True):
    """One read or action through the API: who, in which role, what, which case, when, from where.

    Append-only and hash-chained like the archive: ``entry_sha256`` covers the
    row's fields and the previous row's hash; ``access_log_head`` remembers the
    last row, so removing the newest one shows too.
    """

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_case", "case_id", "seq"),)

    seq: int = Field(primary_key=True)
    at: datetime = _ts()
    staff_id: str = Field(max_length=64)
    role: str = Field(max_length=32)
    school_id: str | None = Field(default=None, max_length=64)
    what: str = Field(max_length=64)
    method: str = Field(max_length=8)
    path: str = Field(max_length=300)
    case_id: str | None = Field(default=None, max_length=64)
    client: str | None = Field(default=None, max_length=64)
    status: int
    prev_sha256: str = Field(max_length=64)
    entry_sha256: str = Field(max_length=64)


class AccessLogHeadRow(ChainHead, table=True):
    __tablename__ = "access_log_head"


class SchoolRow(SQLModel, table=True):
    """A school of the directory: its name and the authority it reports to."""

    __tablename__ = "schools"

    school_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    authority: str = Field(max_length=200)
    contact_name: str | None = Field(default=None, max_length=200)
    contact_phone: str | None = Field(default=None, max_length=32)
    hotlines: list = _json()  # [{name, number}]: each line by its own name
    language: str = Field(default="zh-CN", max_length=8)  # the language of its paper


class AuthorityRow(SQLModel, table=True):
    """An education authority of the directory and the schools it oversees; its people are staff
    rows whose ``school_id`` is the authority's id and whose role is ``edu_authority``."""

    __tablename__ = "authorities"

    authority_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    level: str = Field(max_length=16)  # local (county or city), province
    schools: list = _json()


class ClassRow(SQLModel, table=True):
    __tablename__ = "classes"

    school_id: str = Field(primary_key=True, max_length=64)
    class_id: str = Field(primary_key=True, max_length=64)
    grade: str = Field(max_length=200)
    name: str = Field(max_length=200)


class StaffRow(SQLModel, table=True):
    """A person of a school: roles, a head teacher's classes, a grade head's grades, where to reach them."""

    __tablename__ = "staff"

    staff_id: str = Field(primary_key=True, max_length=64)
    school_id: str = Field(index=True, max_length=64)
    name: str = Field(max_length=200)
    roles: list = _json()
    title: str | None = Field(default=None, max_length=100)  # what a reporter does at the school
    classes: list = _json()
    grades: list = _json()
    email: str | None = Field(default=None, max_length=200)
    wecom: str | None = Field(default=None, max_length=100)
    dingtalk: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=32)


class StaffAccountRow(SQLModel, table=True):
    """How a person of the directory signs in to the staff app: an argon2 password hash, the TOTP secret
    (sealed), and the one-time invitation that lets them set both. Kept apart from ``staff`` so that
    reloading the directory never signs anyone out or resets a password."""

    __tablename__ = "staff_accounts"

    staff_id: str = Field(primary_key=True, max_length=64)
    password_hash: str | None = Field(default=None, max_length=300)
    password_set_at: datetime | None = _ts(nullable=True)
    totp_secret: str | None = Field(
        default=None, sa_column=Column(SealedText("staff_accounts.totp_secret"), nullable=True)
    )
    totp_confirmed_at: datetime | None = _ts(nullable=True)
    #: the last TOTP time step accepted: a code is good once
    totp_last_step: int | None = None
    invite_sha256: str | None = Field(default=None, max_length=64, index=True)
    invite_expires_at: datetime | None = _ts(nullable=True)
    #: wrong TOTP codes since the last right one; the pause they caused; the password voided by them
    code_failures: int = 0
    code_paused_until: datetime | None = _ts(nullable=True)
    password_voided_at: datetime | None = _ts(nullable=True)
    #: wrong codes the person has not been told of yet (shown on their next page once signed in), and the last
    code_failures_untold: int = 0
    last_code_failure_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts()


class WebSessionRow(SQLModel, table=True):
    """A browser's session with the staff app. The cookie holds a random id; only its SHA-256 is
    stored. ``stage``: ``anonymous`` (before sign-in: carries the sign-in form's CSRF token),
    ``second_factor`` (password right, TOTP code awaited), ``enrol`` (TOTP to set up), ``signed_in``."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_staff", "staff_id"),)

    session_sha256: str = Field(primary_key=True, max_length=64)
    stage: str = Field(max_length=16)
    staff_id: str | None = Field(default=None, max_length=64)
    role: str | None = Field(default=None, max_length=32)
    school_id: str | None = Field(default=None, max_length=64)
    csrf: str = Field(max_length=64)
    address: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    last_seen_at: datetime = _ts(index=True)


class DocumentReadRow(SQLModel, table=True):
    """A person's first opening of a document: the reports page marks the reports they have not read."""

    __tablename__ = "document_reads"

    staff_id: str = Field(primary_key=True, max_length=64)
    document_id: str = Field(primary_key=True, max_length=160)
    first_read_at: datetime = _ts()


class SigninFailureRow(SQLModel, table=True):
    """A failed sign-in: the account named and the address it came from (rate limits count these)."""

    __tablename__ = "signin_failures"
    __table_args__ = (Index("ix_signin_failures_staff", "staff_id", "at"),
                      Index("ix_signin_failures_address", "address", "at"))

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts()
    staff_id: str = Field(max_length=64)
    address: str = Field(max_length=64)
    kind: str = Field(default="password", max_length=16)  # password, or code (the TOTP second factor)


class ScreeningResultRow(SQLModel, table=True):
    """One student's result on one instrument in one screening batch: the student archive's record
    (一生一策). ``result_id`` is a digest of (school, batch, student, instrument), so importing a batch
    again writes nothing new. ``outcome``: ``opened`` (a case opened for it), ``annotated`` (added to
    the student's case already open), ``watch`` (the watch list), ``none``."""

    __tablename__ = "screening_results"
    __table_args__ = (Index("ix_screening_results_student", "school_id", "student_ref", "recorded_at"),
                      Index("ix_screening_results_batch", "school_id", "batch"))

    result_id: str = Field(primary_key=True, max_length=64)
    school_id: str = Field(max_length=64)
    batch: str = Field(max_length=100)
    student_ref: str = Field(max_length=64)
    class_id: str | None = Field(default=None, max_length=64)
    instrument: str = Field(max_length=8)
    total: int | None = None
    band: str = Field(max_length=24)
    rules_version: str = Field(max_length=64)
    flags: dict = _json()  # the rules that matched, the reasons, watch
    items: dict = _sealed(SealedJSON("screening_results.items"))  # the answers, item by item
    case_id: str | None = Field(default=None, max_length=64)
    outcome: str = Field(max_length=16)
    recorded_at: datetime = _ts()


class ScreeningJobRow(SQLModel, ScreeningJobFields, table=True):
    """An import (or its dry run) of a screening file: where it stands and what it did."""

    __tablename__ = "screening_jobs"

    job_id: str = Field(primary_key=True, max_length=64)
    school_id: str = Field(max_length=64)
    errors: list = _json()  # [{"line", "reason"}]
    #: rows imported with a caveat (a flagged student of a class the directory does not list): [{"line", "reason"}]
    warnings: list = _json()
    started_by: str = Field(max_length=64)
    started_at: datetime = _ts()
    #: the last time the process running it said it was alive (a silent job's process has died)
    heartbeat_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)


class GuardianLinkRow(SQLModel, table=True):
    """A guardian notice's one-time answer link (GUARDIAN_ONLINE): only its id (the token's SHA-256) is kept.

    Valid from ``created_at`` for the policy's ``guardian_answer_within``; five wrong codes lock it; one answer
    is taken; a newer notice of the case replaces it, and leadership may revoke it (``ended``)."""

    __tablename__ = "guardian_links"
    __table_args__ = (Index("ix_guardian_links_case", "case_id", "created_at"),)

    link_id: str = Field(primary_key=True, max_length=64)
    case_id: str = Field(max_length=64)
    school_id: str = Field(max_length=64)
    event_seq: int  # the event whose guardian notice prints the link
    key_id: str = Field(max_length=64)  # the keyring key the token and code derive from
    document_id: str = Field(max_length=128)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    failures: int = 0  # wrong codes in a row
    locked_at: datetime | None = _ts(nullable=True)
    answered_at: datetime | None = _ts(nullable=True)
    #: the answer as the guardian gave it, and whether the case took it (``taken``) or a person must (``kept``)
    answer: dict | None = Field(default=None, sa_column=Column(SealedJSON("guardian_links.answer"), nullable=True))
    ended: str | None = Field(default=None, max_length=16)  # replaced | revoked
    ended_at: datetime | None = _ts(nullable=True)
    ended_by: str | None = Field(default=None, max_length=64)
    sms_sent_at: datetime | None = _ts(nullable=True)


class GuardianContactRow(SQLModel, table=True):
    """The guardian's mobile number on record for a case (sealed), which the answer link is sent to by SMS."""

    __tablename__ = "guardian_contacts"

    case_id: str = Field(primary_key=True, max_length=64)
    phone: str = _sealed(SealedText("guardian_contacts.phone"))
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = _ts()


class HelpRequestRow(SQLModel, table=True):
    """A student's or parent's help request (models/help.py): what they wrote, sealed, and the state its
    HelpRequestWorkflow projects. ``address`` is a keyed fingerprint (the rate limits), never the address."""

    __tablename__ = "help_requests"
    __table_args__ = (Index("ix_help_requests_school", "school_id", "created_at"),
                      Index("ix_help_requests_address", "address", "created_at"))

    help_id: str = Field(primary_key=True, max_length=64)
    school_id: str = Field(max_length=64)
    created_at: datetime = _ts()
    address: str = Field(max_length=16)
    asked: dict = _sealed(SealedJSON("help_requests.asked"))
    state: str = Field(max_length=16)
    due_at: datetime = _ts()
    escalation_level: int = 0
    looked_at: datetime | None = _ts(nullable=True)
    looked_by: str | None = Field(default=None, max_length=64)
    case_id: str | None = Field(default=None, max_length=64)
    resolved_by: str | None = Field(default=None, max_length=64)
    closed_reason: str | None = Field(default=None, sa_column=Column(SealedText("help_requests.closed_reason"),
                                                                     nullable=True))
    seq: int = 0
