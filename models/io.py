"""The activities the workflows ask the worker for: one name each, with its input model.

Workflows call activities by these names (sandboxed code never imports the
I/O code in ``activities/``); ``activities/case_activities.py`` registers
its methods under the same names, and the timeline (``audit/history.py``)
reads them back from histories. A name is recorded in every history, so
renaming one breaks replay: add a new name instead.
"""

from __future__ import annotations

from enum import StrEnum


class Io(StrEnum):
    project_case = "project_case"  # CaseData -> the read model (histories before the step outbox)
    notify = "notify"  # NotificationRequest -> outbox and delivery (histories before the step outbox)
    project_step = "project_step"  # StepRecord -> read model, notifications and outbox rows, one commit
    deliver = "deliver"  # DeliveryBatch -> each unsent outbox row of a step's notifications, sent
    render_document = "render_document"  # DocumentRequest -> a sealed document and its row
    archive_closed_cases = "archive_closed_cases"  # () -> rows appended to the archive
    project_incident = "project_incident"  # IncidentData -> the incidents table
    render_incident_report = "render_incident_report"  # IncidentData -> the review report's PDF and its row
    render_term_report = "render_term_report"  # TermReportRequest -> the term report's PDF and its row
    project_watch = "project_watch"  # WatchData -> the watch_entries table
    watch_student = "watch_student"  # WatchRequest -> the student's WatchWorkflow, started or joined
    digest_opening = "digest_opening"  # DigestRequest -> the school's day's OpeningsDigestWorkflow, joined
    project_help = "project_help"  # HelpData -> the help_requests table (its state; the words are the page's)
    send_link_sms = "send_link_sms"  # LinkSms -> the guardian's answer link, by SMS to the number on record
