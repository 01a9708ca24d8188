"""The fields of what the read model keeps and the API shows, declared once.

Each ``…Fields`` is a plain pydantic model. Its table in ``db/tables.py`` adds what storage needs
(``class DocumentRow(SQLModel, DocumentFields, table=True)``: keys, indexes, timestamp, JSON and
sealed columns, codes stored as text); its view here, or in the module that shows it, adds what a
reader gets instead (codes as their enums, computed fields). A field both have is added here, once,
and a view is read from its row with ``View.model_validate(row, from_attributes=True)``.

The lengths are the columns' (``max_length`` becomes ``VARCHAR(n)``); tests/test_store.py holds the
tables equal to the migrations.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class SignedCopyFields(BaseModel):
    """A scan or photo of a signed paper (the guardian's receipt)."""

    copy_id: str = Field(max_length=64)
    document_id: str = Field(max_length=160)
    media_type: str = Field(max_length=32)
    size: int
    sha256: str = Field(max_length=64)
    uploaded_by: str = Field(max_length=64)
    records: str | None = Field(default=None, max_length=32)  # the action its arrival recorded, if staff said so


class DocumentFields(BaseModel):
    """A document of a case, or an extreme event's review."""

    document_id: str = Field(max_length=160)
    case_id: str | None = Field(default=None, max_length=64)
    incident_id: str | None = Field(default=None, max_length=64)
    title: str = Field(max_length=200)
    media_type: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    language: str = Field(default="zh-CN", max_length=8)


class NotificationFields(BaseModel):
    """A notification: what happened, to whom, by when."""

    notification_id: str = Field(max_length=160)
    case_id: str = Field(max_length=64)
    escalation_level: int = 0
    text: str


class DeliveryFields(BaseModel):
    """One delivery of a notification: a person or group, on a channel."""

    case_id: str | None = Field(default=None, max_length=64)
    recipient: str = Field(max_length=100)  # a staff id, or "group:<school>:<role>", or "webhook"
    channel: str = Field(max_length=16)  # email, wecom, dingtalk, feishu, webhook
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=300)


class ScreeningJobFields(BaseModel):
    """An import (or its dry run) of a screening file: where it stands and what it did."""

    job_id: str = Field(max_length=64)
    batch: str = Field(max_length=100)
    dry_run: bool = False
    status: str = Field(max_length=16)  # running, done, failed
    rows: int = 0
    flagged: int = 0
    opened: int = 0
    annotated: int = 0
    watched: int = 0  # students the import put on the watch list
    failure: str | None = Field(default=None, max_length=300)


class CaseListFields(BaseModel):
    """What a case's row and its line in a list share (never a name or a narrative)."""

    case_id: str = Field(max_length=64)
    school_id: str = Field(max_length=64)
    student_ref: str = Field(max_length=64)
    escalation_level: int = 0
