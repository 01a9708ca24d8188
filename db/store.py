"""The read model: projection of case state, listing, outbox and documents.

Every write is idempotent: projections are keyed by case and event
sequence (an older snapshot never overwrites a newer one), notifications
and documents by their deterministic ids.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import Engine, case, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, delete, select

from db.tables import (
    CaseDeadlineRow,
    CaseEventRow,
    CaseRow,
    DeliveryRow,
    DocumentReadRow,
    DocumentRow,
    IdempotencyRow,
    IncidentRow,
    NotificationRow,
    ScreeningResultRow,
    SignedCopyRow,
    WatchRow,
)
from models.case import (
    CaseData,
    CaseEvent,
    CasePage,
    CaseSummary,
    Deadline,
    DocumentView,
    NotificationView,
)
from models.domain import Action, CaseState, Obligation, RiskLevel
from models.incident import IncidentData, Investigation
from models.watch import WatchData, WatchView

# ----------------------------------------------------------------- projection


#: Outbox rows still to send: not sent, not refused (a refused one is not retried).
TO_SEND = ("pending", "failing")
#: Outbox rows not sent: those still to send, and the refused.
UNSENT = (*TO_SEND, "refused")
#: Fields the ``cases`` row shares with the workflow's state, by name (timestamps added as they are).
_SHARED_WITH_ROW = (set(CaseRow.model_fields) & set(CaseData.model_fields)) - {"opened_at", "closed_at"}


def case_values(data: CaseData) -> dict:
    """The ``cases`` row of a case's state: its shared fields, and what lists and the dashboard need."""
    open_due = [d.due_at for d in data.deadlines if d.met_at is None]
    assessed_after, intervened_after, on_time = dashboard_measures(data)
    return {
        **data.model_dump(mode="json", include=_SHARED_WITH_ROW),
        "opened_at": data.opened_at,
        "closed_at": data.closed_at,
        "student_ref": data.student.ref,
        "class_id": data.student.class_id,
        "opener": data.opened_by.staff_id,
        "policy_version": data.policy_version,
        "escalation_level": data.escalation_level,
        "updated_at": data.events[-1].at,
        "next_due_at": None if data.closed_at else min(open_due, default=None),
        "last_seq": data.events[-1].seq,
        "failed_effect_count": len(data.failed_effects),
        "assessed_after_s": assessed_after,
        "intervened_after_s": intervened_after,
        "on_time": on_time,
    }


def deadline_values(data: CaseData) -> list[dict]:
    return [
        dict(
            case_id=data.case_id,
            school_id=data.school_id,
            open_due_at=None if data.closed_at or d.met_at else d.due_at,
            position=position,
            **d.model_dump(mode="python", exclude={"escalated_at"}),
            escalated_at=[t.isoformat() for t in d.escalated_at],
        )
        for position, d in enumerate(data.deadlines)
    ]


def event_values(data: CaseData) -> list[dict]:
    return [dict(case_id=data.case_id, **e.model_dump(mode="python")) for e in data.events]


def project_case(engine: Engine, data: CaseData, written: list[dict] | None = None) -> bool:
    """Mirror the workflow's state; False when a newer snapshot is already stored. ``written``
    gets the events this call inserted (none twice, whatever is retried)."""
    with Session(engine) as session, session.begin():
        return _project(session, data, written)


def project_step(engine: Engine, data: CaseData, notifications: list[tuple[NotificationRow, list[DeliveryRow]]],
                 written: list[dict] | None = None) -> list[str]:
    """One workflow step in one transaction: the case as it now stands, and the step's notifications
    with their outbox rows (each inserted once: a retried step finds them). Returns the ids of the
    notifications that still have an outbox row to send; ``written`` as ``project_case``."""
    with Session(engine) as session, session.begin():
        _project(session, data, written)
        ids = [n.notification_id for n, _ in notifications]
        if not ids:
            return []
        known = set(session.exec(select(NotificationRow.notification_id)
                                 .where(col(NotificationRow.notification_id).in_(ids))).all())
        for notification, deliveries in notifications:
            if notification.notification_id not in known:
                session.add(notification)
                session.add_all(deliveries)
        session.flush()
        return sorted(set(session.exec(select(DeliveryRow.notification_id).where(
            col(DeliveryRow.notification_id).in_(ids), col(DeliveryRow.status).in_(TO_SEND))).all()))


def _project(session: Session, data: CaseData, written: list[dict] | None = None) -> bool:
    values = case_values(data)
    row = session.get(CaseRow, data.case_id, with_for_update=True)
    stale = row is not None and row.last_seq > values["last_seq"]
    if not stale:
        row = row or CaseRow(case_id=data.case_id)
        for key, value in values.items():
            setattr(row, key, value)
        session.add(row)
        session.flush()
        session.exec(delete(CaseDeadlineRow).where(col(CaseDeadlineRow.case_id) == data.case_id))
        session.add_all(CaseDeadlineRow(**d) for d in deadline_values(data))
    stored = set(
        session.exec(select(CaseEventRow.seq).where(col(CaseEventRow.case_id) == data.case_id)).all()
    )
    new = [e for e in event_values(data) if e["seq"] not in stored]
    session.add_all(CaseEventRow(**e) for e in new)
    if written is not None:
        written.extend(new)
    return not stale


#: The city's measure [seed 000, 郑州市…工作方案, 二: 心理高危学生得到及时发现和干预达到90%以上]: the duties that
#: make "found and handled in time" for a case that reached high or imminent risk.
MEASURED = (Obligation.assess, Obligation.guardian_notice, Obligation.intervene)


def handled_in_time(data: CaseData, as_of: datetime) -> bool | None:
    """The 90 % measure for one case: its assessment, its guardian notice and its plan (or an urgent
    referral) each met by their deadline. None while the case never reached high risk, or while one of
    the three is neither met nor missed; recurring reviews do not count."""
    if not data.reached_high():
        return None
    urgent = next((e.at for e in data.events if e.action is Action.refer and e.from_state is CaseState.assessed),
                  None)  # the green channel: referred straight from the assessment
    verdicts: list[bool | None] = []
    for obligation in MEASURED:
        first = next((d for d in data.deadlines if d.obligation is obligation), None)
        if first is None:  # never owed (the guardian was told before the risk rose, a plan already made)
            verdicts.append(True)
        elif obligation is Obligation.intervene and urgent is not None and urgent <= first.due_at:
            verdicts.append(True)
        elif first.met_at is not None:
            verdicts.append(first.met_at <= first.due_at)
        else:
            verdicts.append(False if first.due_at <= as_of else None)
    if False in verdicts:
        return False
    return None if None in verdicts else True


def dashboard_measures(data: CaseData) -> tuple[int | None, int | None, bool | None]:
    """Seconds from identification to assessment and to intervention; handled in time (the 90 % measure)?

    Judged at the case's last event: an escalation is projected at the moment a
    deadline passes, so a missed deadline is on record when it is missed.
    """

    def after(action: Action) -> int | None:
        at = data.first(action)
        return None if at is None else int((at - data.opened_at).total_seconds())

    return after(Action.assess), after(Action.intervene), handled_in_time(data, data.events[-1].at)


def load_case(engine: Engine, case_id: str) -> CaseData | None:
    """Rebuild the workflow's state from the read model."""
    with Session(engine) as session:
        row = session.get(CaseRow, case_id)
        if row is None:
            return None
        events = session.exec(
            select(CaseEventRow).where(col(CaseEventRow.case_id) == case_id).order_by(col(CaseEventRow.seq))
        ).all()
        deadlines = session.exec(
            select(CaseDeadlineRow)
            .where(col(CaseDeadlineRow.case_id) == case_id)
            .order_by(col(CaseDeadlineRow.position))
        ).all()
        data = CaseData.model_validate(row, from_attributes=True)
        data.deadlines = [Deadline.model_validate(d, from_attributes=True) for d in deadlines]
        data.events = [CaseEvent.model_validate(e, from_attributes=True) for e in events]
        return data


def case_events(engine: Engine, case_id: str, upto: int | None = None) -> list[CaseEvent]:
    """A case's events from the read model, every run's, in order (up to ``upto``)."""
    query = select(CaseEventRow).where(col(CaseEventRow.case_id) == case_id)
    if upto is not None:
        query = query.where(col(CaseEventRow.seq) <= upto)
    with Session(engine) as session:
        rows = session.exec(query.order_by(col(CaseEventRow.seq))).all()
        return [CaseEvent.model_validate(e, from_attributes=True) for e in rows]


def request_taken(engine: Engine, case_id: str, request: str) -> str | None:
    """The action a request (under an Idempotency-Key) was taken as on the case, if it was."""
    with Session(engine) as session:
        return session.exec(select(CaseEventRow.action).where(
            col(CaseEventRow.case_id) == case_id, col(CaseEventRow.request) == request)).first()


def sees_case(engine: Engine, case_id: str, staff_id: str, classes: set[str] | None) -> bool:
    """Does a person whose reach is ``classes`` (None: the whole school) see this case of their school?
    A case of their classes; and, whatever its class, one they opened, first assessed or own."""
    if classes is None:
        return True
    with Session(engine) as session:
        row = session.exec(select(CaseRow.class_id, CaseRow.opener, CaseRow.assessor, CaseRow.owner)
                           .where(col(CaseRow.case_id) == case_id)).first()
    return row is not None and (row[0] in classes or staff_id in row[1:])


def seen_of(engine: Engine, case_ids: set[str], staff_id: str, classes: set[str] | None) -> set[str]:
    """Which of these cases the person sees (``sees_case``, for many at once)."""
    if classes is None or not case_ids:
        return set(case_ids)
    with Session(engine) as session:
        return set(session.exec(select(CaseRow.case_id).where(col(CaseRow.case_id).in_(sorted(case_ids)),
                                                               *_reach(classes, staff_id))).all())


def _reach(classes: set[str] | None, me: str | None) -> list:
    """The filter of the cases a person sees (``sees_case``), for a list."""
    if classes is None:
        return []
    seen = [col(CaseRow.class_id).in_(sorted(classes))]
    if me is not None:
        seen += [col(CaseRow.opener) == me, col(CaseRow.assessor) == me, col(CaseRow.owner) == me]
    return [or_(*seen)]


def case_school(engine: Engine, case_id: str) -> str | None:
    with Session(engine) as session:
        return session.exec(select(CaseRow.school_id).where(col(CaseRow.case_id) == case_id)).first()


def list_cases(
    engine: Engine,
    *,
    school_id: str,
    now: datetime,
    state: str | None = None,
    risk_level: str | None = None,
    overdue: bool | None = None,
    limit: int = 50,
    offset: int = 0,
    classes: set[str] | None = None,
    me: str | None = None,
    owned_by: str | None = None,
    open_only: bool = False,
    soonest_due: bool = False,
    order: str = "opened",
    ref: str | None = None,
    case_ids: list[str] | None = None,
) -> CasePage:
    """``classes``: only cases of these classes (a head teacher's, a grade head's), and those ``me`` opened,
    assessed or owns; None: the whole school. ``owned_by``: only the cases this person owns. ``ref``: the
    student's number holds it; ``case_ids``: only these cases.
    ``order``: ``opened`` newest first; ``urgency`` the next deadline first (the longest overdue at the top,
    cases with none last: the order the ``(school_id, next_due_at)`` index keeps); ``risk`` the higher risk
    first, then by urgency. ``soonest_due`` is ``urgency``."""
    filters = [col(CaseRow.school_id) == school_id, *_reach(classes, me)]
    if ref:
        filters.append(col(CaseRow.student_ref).contains(ref, autoescape=True))
    if case_ids is not None:
        filters.append(col(CaseRow.case_id).in_(case_ids))
    if open_only:
        filters.append(col(CaseRow.state) != CaseState.closed.value)
    if owned_by is not None:
        filters.append(col(CaseRow.owner) == owned_by)
    if state:
        filters.append(col(CaseRow.state) == state)
    if risk_level:
        filters.append(col(CaseRow.risk_level) == risk_level)
    if overdue is True:
        filters.append(col(CaseRow.next_due_at) <= now)
    elif overdue is False:
        filters.append(or_(col(CaseRow.next_due_at).is_(None), col(CaseRow.next_due_at) > now))
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(CaseRow).where(*filters)).one()
        risk = case({r.value: r.rank + 1 for r in RiskLevel}, value=col(CaseRow.risk_level), else_=0).desc()
        due = (col(CaseRow.next_due_at).is_(None), col(CaseRow.next_due_at))
        orders = {"opened": (col(CaseRow.opened_at).desc(),), "urgency": due, "risk": (risk, *due)}
        rows = session.exec(
            select(CaseRow)
            .where(*filters)
            .order_by(*orders["urgency" if soonest_due else order], col(CaseRow.case_id))
            .limit(limit)
            .offset(offset)
        ).all()
    items = [
        CaseSummary.model_validate(r, from_attributes=True).model_copy(
            update={"overdue": r.next_due_at is not None and r.next_due_at <= now}
        )
        for r in rows
    ]
    return CasePage(items=items, total=total, limit=limit, offset=offset)


def has_student(engine: Engine, school_id: str, student_ref: str) -> bool:
    """Has this student of the school a case?"""
    with Session(engine) as session:
        return session.exec(select(CaseRow.case_id).where(col(CaseRow.school_id) == school_id,
                                                          col(CaseRow.student_ref) == student_ref).limit(1)).first() \
            is not None


def student_refs(engine: Engine, case_ids: list[str]) -> dict[str, str]:
    """The school's student references of the listed cases (no name)."""
    if not case_ids:
        return {}
    with Session(engine) as session:
        rows = session.exec(select(CaseRow.case_id, CaseRow.student_ref).where(col(CaseRow.case_id).in_(case_ids)))
        return dict(rows.all())


def student_names(engine: Engine, case_ids: list[str]) -> dict[str, str]:
    """Names for the listed cases (only for roles that may see them)."""
    if not case_ids:
        return {}
    with Session(engine) as session:
        rows = session.exec(select(CaseRow.case_id, CaseRow.student).where(col(CaseRow.case_id).in_(case_ids))).all()
    return {case_id: student["name"] for case_id, student in rows}


# ----------------------------------------------------------- idempotency keys


class IdempotencyConflict(Exception):
    pass


def claim_idempotency_key(
    engine: Engine, staff_id: str, key: str, request_sha256: str, case_id: str, now: datetime
) -> IdempotencyRow:
    """The key's row: new for ``case_id``, or the earlier one on a retry of the same request.

    :class:`IdempotencyConflict` when the key was used with another request.
    """
    row = IdempotencyRow(staff_id=staff_id, key=key, request_sha256=request_sha256, case_id=case_id, created_at=now)
    stored = _insert_once(engine, row, (staff_id, key))
    if stored.request_sha256 != request_sha256:
        raise IdempotencyConflict("already used with a different request")
    return stored


def save_idempotent_answer(engine: Engine, staff_id: str, key: str, status_code: int, response: str) -> None:
    """Keep the first answer given under a key; later calls with the key get it again."""
    with Session(engine) as session, session.begin():
        row = session.get(IdempotencyRow, (staff_id, key), with_for_update=True)
        if row is not None and row.status_code is None:
            row.status_code, row.response = status_code, response


# ---------------------------------------------------------------- outbox


def _insert_once(engine: Engine, row: SQLModel, key: object) -> SQLModel:
    """Insert ``row`` unless a row with its key exists; return the stored row."""
    model = type(row)
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            existing = session.get(model, key)
            if existing is not None:
                return existing
            session.add(row)
        return row
    except IntegrityError:  # a concurrent run inserted it first
        with Session(engine, expire_on_commit=False) as session:
            return session.get(model, key)


def add_notification(engine: Engine, row: NotificationRow) -> NotificationRow:
    """Insert once; a rerun gets the stored row back."""
    return _insert_once(engine, row, row.notification_id)


def mark_delivery(engine: Engine, notification_id: str, delivered_at: datetime | None) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(NotificationRow, notification_id, with_for_update=True)
        row.delivery_attempts += 1
        if delivered_at is not None and row.delivered_at is None:
            row.delivered_at = delivered_at


def add_deliveries(engine: Engine, rows: list[DeliveryRow]) -> None:
    """The outbox rows of a notification, each inserted once (a rerun keeps what was there)."""
    for row in rows:
        _insert_once(engine, row, row.delivery_id)


def unsent_deliveries(engine: Engine, notification_id: str) -> list[DeliveryRow]:
    """What is still to send of a notification: pending or failing (not sent, not refused)."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(select(DeliveryRow).where(col(DeliveryRow.notification_id) == notification_id,
                                                           col(DeliveryRow.status).in_(TO_SEND))
                                 .order_by(col(DeliveryRow.delivery_id))).all())


def refused_deliveries(engine: Engine, notification_id: str) -> list[DeliveryRow]:
    """A notification's outbox rows that a receiver refused (a 4xx: retrying cannot mend them)."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(select(DeliveryRow).where(col(DeliveryRow.notification_id) == notification_id,
                                                           col(DeliveryRow.status) == "refused")).all())


def notification(engine: Engine, notification_id: str) -> NotificationRow | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(NotificationRow, notification_id)


def record_attempt(engine: Engine, delivery_id: str, status: str, at: datetime, error: str | None = None) -> None:
    """One attempt's outcome: sent (at most once: a sent row stays sent), failing or refused."""
    with Session(engine) as session, session.begin():
        row = session.get(DeliveryRow, delivery_id, with_for_update=True)
        if row.status == "sent":
            return
        row.attempts += 1
        row.last_attempt_at = at
        row.status = status
        row.last_error = error[:300] if error else None
        if status == "sent":
            row.sent_at = at


def outbox(engine: Engine, statuses: tuple[str, ...] = ("pending", "failing", "refused"),
           schools: set[str] | None = None, limit: int = 200) -> list[DeliveryRow]:
    """Deliveries in these states, oldest first (``crisisflow outbox``, the dashboard)."""
    with Session(engine, expire_on_commit=False) as session:
        query = select(DeliveryRow).where(col(DeliveryRow.status).in_(statuses))
        if schools is not None:
            query = query.where(col(DeliveryRow.school_id).in_(schools))
        return list(session.exec(query.order_by(col(DeliveryRow.created_at), col(DeliveryRow.delivery_id))
                                 .limit(limit)).all())


def count_outbox(engine: Engine, statuses: tuple[str, ...], schools: set[str]) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(DeliveryRow).where(
            col(DeliveryRow.status).in_(statuses), col(DeliveryRow.school_id).in_(schools))).one()


def deliveries_of(engine: Engine, notification_ids: list[str]) -> list[DeliveryRow]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.exec(select(DeliveryRow).where(col(DeliveryRow.notification_id).in_(notification_ids))
                                 .order_by(col(DeliveryRow.delivery_id))).all())


def project_incident(engine: Engine, data: IncidentData) -> None:
    """Mirror an extreme event's review into the read model (a rerun with an older state is ignored)."""
    event = data.event
    _upsert_newer(engine, IncidentRow, data.incident_id, data.seq, dict(
        school_id=data.school_id, case_id=event.case_id, kind=event.kind.value, occurred_at=event.occurred_at,
        place=event.place, summary=event.summary, recorded_by=data.recorded_by.staff_id,
        recorded_at=data.recorded_at, due_at=data.deadline.due_at, state=data.state,
        escalation_level=data.deadline.escalation_level, report=data.report.model_dump(),
        report_chars=data.report.chars(), submitted_at=data.submitted_at,
        submitted_by=data.submitted_by.staff_id if data.submitted_by else None, document_id=data.document_id,
        investigation=Investigation.model_validate(data, from_attributes=True).model_dump(mode="json"),
        last_seq=data.seq,
    ))


def _upsert_newer(engine: Engine, table: type[SQLModel], key: str, seq: int, values: dict) -> None:
    """Write a workflow's mirror row, unless the row holds a later state (a rerun with an older one)."""
    with Session(engine) as session, session.begin():
        row = session.get(table, key, with_for_update=True)
        if row is not None and row.last_seq > seq:
            return
        row = row or table(**{next(iter(table.__table__.primary_key.columns)).name: key})
        for name, value in values.items():
            setattr(row, name, value)
        session.add(row)


def project_watch(engine: Engine, data: WatchData) -> None:
    """Mirror a watch-listed student's entry into the read model (a rerun with an older state is ignored)."""
    deadline = data.deadline if data.deadline and data.deadline.met_at is None else None
    _upsert_newer(engine, WatchRow, data.watch_id, data.seq, dict(
        school_id=data.school_id, student_ref=data.student.ref, class_id=data.student.class_id,
        student=data.student.model_dump(mode="json"), reasons=[r.model_dump(mode="json") for r in data.reasons],
        owner=data.owner, state=data.state, review_due_at=deadline.due_at if deadline else None,
        escalation_level=deadline.escalation_level if deadline else 0, updated_at=datetime.now(UTC),
        last_seq=data.seq,
    ))


def watch_school(engine: Engine, watch_id: str) -> tuple[str, str | None] | None:
    """The school and class of a watch-list entry."""
    with Session(engine) as session:
        row = session.exec(select(WatchRow.school_id, WatchRow.class_id)
                           .where(col(WatchRow.watch_id) == watch_id)).first()
    return (row[0], row[1]) if row else None


def watchlist(engine: Engine, school_id: str, classes: set[str] | None, now: datetime,
              names: bool = False, limit: int = 500) -> list[WatchView]:
    """The school's watch list (of ``classes`` only, unless None), the soonest review first; with the
    students' names where the caller may see them."""
    query = select(WatchRow).where(col(WatchRow.school_id) == school_id, col(WatchRow.state) == "watching")
    if classes is not None:
        query = query.where(col(WatchRow.class_id).in_(sorted(classes)))
    with Session(engine) as session:
        rows = session.exec(query.order_by(col(WatchRow.review_due_at), col(WatchRow.watch_id)).limit(limit)).all()
    return [WatchView(watch_id=r.watch_id, student_ref=r.student_ref, name=r.student["name"] if names else None,
                      grade=r.student["grade"], class_name=r.student["class_name"],
                      reasons=list(dict.fromkeys(e["reason"] for e in r.reasons)), owner=r.owner,
                      review_due_at=r.review_due_at, escalation_level=r.escalation_level,
                      overdue=r.review_due_at is not None and r.review_due_at <= now, state=r.state)
            for r in rows]


def add_signed_copy(engine: Engine, row: SignedCopyRow) -> SignedCopyRow:
    return _insert_once(engine, row, row.copy_id)


def get_signed_copy(engine: Engine, copy_id: str) -> SignedCopyRow | None:
    with Session(engine) as session:
        return session.get(SignedCopyRow, copy_id)


def signed_copies(engine: Engine, document_id: str) -> list[SignedCopyRow]:
    with Session(engine) as session:
        return list(session.exec(select(SignedCopyRow).where(col(SignedCopyRow.document_id) == document_id)
                                 .order_by(col(SignedCopyRow.uploaded_at))).all())


def all_schools(engine: Engine) -> list[str]:
    """Every school with a case or an incident (an auditor's reach)."""
    with Session(engine) as session:
        cases = set(session.exec(select(CaseRow.school_id).distinct()).all())
        events = set(session.exec(select(IncidentRow.school_id).distinct()).all())
    return sorted(cases | events)


def get_incident(engine: Engine, incident_id: str) -> IncidentRow | None:
    with Session(engine) as session:
        return session.get(IncidentRow, incident_id)


def incidents(engine: Engine, schools: set[str], limit: int = 200) -> list[IncidentRow]:
    with Session(engine) as session:
        return list(session.exec(select(IncidentRow).where(col(IncidentRow.school_id).in_(schools))
                                 .order_by(col(IncidentRow.occurred_at).desc()).limit(limit)).all())


def incident_school(engine: Engine, incident_id: str) -> str | None:
    with Session(engine) as session:
        return session.exec(select(IncidentRow.school_id).where(col(IncidentRow.incident_id) == incident_id)).first()


def authority_documents(engine: Engine, schools: set[str], kinds: set[str]) -> list[DocumentView]:
    """The reports an education authority reads: of its schools, of these kinds, newest first."""
    return [view for view, _ in authority_reports(engine, schools, kinds)]


def authority_reports(engine: Engine, schools: set[str], kinds: set[str]) -> list[tuple[DocumentView, str]]:
    """As ``authority_documents``, each with its school."""
    with Session(engine) as session:
        rows = session.exec(select(DocumentRow).where(col(DocumentRow.school_id).in_(schools),
                                                      col(DocumentRow.kind).in_(kinds))
                            .order_by(col(DocumentRow.created_at).desc()).limit(500)).all()
        return [(DocumentView.model_validate(r, from_attributes=True), r.school_id) for r in rows]


def mark_read(engine: Engine, staff_id: str, document_id: str, now: datetime) -> None:
    """Note that this person has opened the document (the first time only; two first openings at once keep one)."""
    try:
        with Session(engine) as session, session.begin():
            if session.get(DocumentReadRow, (staff_id, document_id)) is None:
                session.add(DocumentReadRow(staff_id=staff_id, document_id=document_id, first_read_at=now))
    except IntegrityError:
        pass


def read_by(engine: Engine, staff_id: str, document_ids: list[str]) -> set[str]:
    """Which of these documents this person has opened."""
    with Session(engine) as session:
        return set(session.exec(select(DocumentReadRow.document_id).where(
            col(DocumentReadRow.staff_id) == staff_id, col(DocumentReadRow.document_id).in_(document_ids))).all())


def _of_case(engine: Engine, row_model: type[SQLModel], view: type, case_id: str, *order) -> list:
    """A case's rows of one table, oldest first, read as their view."""
    with Session(engine) as session:
        rows = session.exec(select(row_model).where(col(row_model.case_id) == case_id).order_by(*order)).all()
        return [view.model_validate(r, from_attributes=True) for r in rows]


def notifications_for(engine: Engine, case_id: str) -> list[NotificationView]:
    return _of_case(engine, NotificationRow, NotificationView, case_id,
                    col(NotificationRow.created_at), col(NotificationRow.notification_id))


# ---------------------------------------------------------------- documents


def add_document(engine: Engine, row: DocumentRow) -> DocumentRow:
    return _insert_once(engine, row, row.document_id)


def add_form(engine: Engine, document_id: str, key: str, form: dict[str, str]) -> None:
    """Record a form made on first request beside a document's others (the same form made twice at once is the
    same bytes: either record stands)."""
    with Session(engine) as session, session.begin():
        row = session.get(DocumentRow, document_id, with_for_update=True)
        row.forms = {**(row.forms or {}), key: form}
        session.add(row)


def documents_for(engine: Engine, case_id: str) -> list[DocumentView]:
    return _of_case(engine, DocumentRow, DocumentView, case_id,
                    col(DocumentRow.created_at), col(DocumentRow.document_id))


def existing_documents(engine: Engine, document_ids: list[str]) -> set[str]:
    """Which of these documents exist (a document that failed and was made again exists)."""
    if not document_ids:
        return set()
    with Session(engine) as session:
        return set(session.exec(select(DocumentRow.document_id)
                                .where(col(DocumentRow.document_id).in_(document_ids))).all())


def get_document(engine: Engine, document_id: str) -> DocumentRow | None:
    with Session(engine) as session:
        return session.get(DocumentRow, document_id)


def document_owner(engine: Engine, document_id: str) -> tuple[str, str | None] | None:
    """The school and case (none for an extreme event's review) a document belongs to."""
    with Session(engine) as session:
        row = session.exec(select(DocumentRow.school_id, DocumentRow.case_id)
                           .where(col(DocumentRow.document_id) == document_id)).first()
        return (row[0], row[1]) if row else None


# ------------------------------------------------------------ screening


def record_screening(engine: Engine, rows: list[dict]) -> None:
    """Screening results into the student archive; a result recorded before is left as it was."""
    if not rows:
        return
    table = ScreeningResultRow.__table__
    # through the table's column types: the answers are sealed like every personal column
    insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(table)
    with engine.begin() as conn:
        for start in range(0, len(rows), 2000):
            conn.execute(insert.on_conflict_do_nothing(index_elements=["result_id"]), rows[start:start + 2000])


def screened_students(engine: Engine, school_id: str, batch: str) -> set[str]:
    """Students of the batch whose flagged results are recorded (with the case they went to)."""
    with Session(engine) as session:
        return set(session.exec(select(ScreeningResultRow.student_ref).where(
            col(ScreeningResultRow.school_id) == school_id, col(ScreeningResultRow.batch) == batch,
            col(ScreeningResultRow.outcome).in_(["opened", "annotated"]))).all())


def open_cases_by_ref(engine: Engine, school_id: str) -> dict[str, str]:
    """The open case of each student of the school who has one (the newest, if somehow several)."""
    found: dict[str, str] = {}
    with Session(engine) as session:
        rows = session.exec(select(CaseRow.student_ref, CaseRow.case_id).where(
            col(CaseRow.school_id) == school_id, col(CaseRow.state) != CaseState.closed.value)
            .order_by(col(CaseRow.opened_at))).all()
    for ref, case_id in rows:
        found[ref] = case_id
    return found


def student_record(engine: Engine, school_id: str, student_ref: str) -> tuple[list, list, str | None, set[str]]:
    """A student's archive in a school: results (newest first), cases (newest first), the name their
    latest case holds, and the classes they were in."""
    with Session(engine) as session:
        results = session.exec(select(ScreeningResultRow).where(
            col(ScreeningResultRow.school_id) == school_id, col(ScreeningResultRow.student_ref) == student_ref)
            .order_by(col(ScreeningResultRow.recorded_at).desc(), col(ScreeningResultRow.instrument))).all()
        cases = session.exec(select(CaseRow).where(col(CaseRow.school_id) == school_id,
                                                   col(CaseRow.student_ref) == student_ref)
                             .order_by(col(CaseRow.opened_at).desc())).all()
        name = cases[0].student["name"] if cases else None
    classes = {r.class_id for r in results if r.class_id} | {c.class_id for c in cases if c.class_id}
    return list(results), list(cases), name, classes


def transfer_screening(engine: Engine, from_school: str, to_school: str, student_ref: str, to_student_ref: str,
                       now: datetime) -> int:
    """Copy a student's screening results to the school they moved to (leadership's explicit transfer),
    under the student the receiving school has for them (``to_student_ref``: matched, never assumed from
    a number); their cases stay the first school's record. Returns how many results the new school
    received."""
    with Session(engine) as session:
        rows = session.exec(select(ScreeningResultRow).where(col(ScreeningResultRow.school_id) == from_school,
                                                             col(ScreeningResultRow.student_ref) == student_ref)).all()
        copies = [{**r.model_dump(), "school_id": to_school, "student_ref": to_student_ref,
                   "batch": f"{from_school}:{r.batch}"[:100],
                   "result_id": hashlib.sha256(f"transfer\x00{to_school}\x00{r.result_id}".encode()).hexdigest(),
                   "case_id": None, "class_id": None, "recorded_at": now} for r in rows]
    record_screening(engine, copies)
    return len(copies)
