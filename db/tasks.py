"""A person's tasks: the open obligations that are theirs, soonest due first, and the closures
waiting for a decision.

An obligation is a person's when their role owns it (``responsible_role``), or when its deadline has
climbed the warning ladder to the rung that tells their role (the caller says from which level, as
``workflows.deadlines.LADDER`` has it); and only on cases they may see (a head teacher's classes, a
grade head's grades). Read from the deadlines' ``(school_id, open_due_at)`` index, so the page costs
the same in a school of ten cases or of ten thousand.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Engine, and_, or_
from sqlmodel import Session, col, select

from db.tables import CaseDeadlineRow, CaseEventRow, CaseRow
from models.domain import Obligation, Recipient


class Task(BaseModel):
    case_id: str
    student_ref: str
    grade: str
    class_name: str
    obligation: Obligation
    responsible_role: str
    due_at: datetime
    escalation_level: int
    overdue: bool
    #: the person's own duty ("owner"), or one the ladder has brought to them ("ladder")
    why: str


class ClosureWaiting(BaseModel):
    case_id: str
    student_ref: str
    grade: str
    class_name: str
    proposed_by: str
    proposed_at: datetime


def tasks_for(engine: Engine, school_id: str, staff_id: str, owns: set[str], told_from_level: int | None,
              classes: set[str] | None, now: datetime, limit: int = 200) -> list[Task]:
    """Open obligations of the school owned by ``owns`` roles, or by ``staff_id`` as the case's named
    owner, or escalated to ``told_from_level`` and up; on the cases the person sees (``store.sees_case``)."""
    own = and_(col(CaseDeadlineRow.responsible_role) == Recipient.owner.value, col(CaseRow.owner) == staff_id)
    mine = [col(CaseDeadlineRow.responsible_role).in_(sorted(owns)), own]
    if told_from_level is not None:
        mine.append(col(CaseDeadlineRow.escalation_level) >= told_from_level)
    query = (
        select(CaseDeadlineRow, CaseRow.student_ref, CaseRow.student, CaseRow.owner)
        .join(CaseRow, col(CaseRow.case_id) == col(CaseDeadlineRow.case_id))
        .where(col(CaseDeadlineRow.school_id) == school_id, col(CaseDeadlineRow.open_due_at).is_not(None), or_(*mine))
    )
    if classes is not None:
        query = query.where(or_(col(CaseRow.class_id).in_(sorted(classes)), col(CaseRow.opener) == staff_id,
                                col(CaseRow.assessor) == staff_id, col(CaseRow.owner) == staff_id))
    with Session(engine) as session:
        rows = session.exec(query.order_by(col(CaseDeadlineRow.open_due_at), col(CaseDeadlineRow.case_id))
                            .limit(limit)).all()
    return [
        Task(case_id=d.case_id, student_ref=ref, grade=student["grade"], class_name=student["class_name"],
             obligation=Obligation(d.obligation), responsible_role=d.responsible_role, due_at=d.due_at,
             escalation_level=d.escalation_level, overdue=d.due_at <= now,
             why="owner" if d.responsible_role in owns or (d.responsible_role == Recipient.owner.value
                                                           and owner == staff_id) else "ladder")
        for d, ref, student, owner in rows
    ]


def closures_waiting(engine: Engine, school_id: str, not_by: str, limit: int = 100) -> list[ClosureWaiting]:
    """Proposed closures of the school waiting for a leadership decision, but those ``not_by`` proposed."""
    with Session(engine) as session:
        rows = session.exec(
            select(CaseRow.case_id, CaseRow.student_ref, CaseRow.student, CaseRow.closure_proposal)
            .where(col(CaseRow.school_id) == school_id, col(CaseRow.closure_proposal).is_not(None),
                   col(CaseRow.state) != "closed")
            .order_by(col(CaseRow.updated_at)).limit(limit)
        ).all()
    return [
        ClosureWaiting(case_id=case_id, student_ref=ref, grade=student["grade"], class_name=student["class_name"],
                       proposed_by=proposal["by"], proposed_at=proposal["at"])
        for case_id, ref, student, proposal in rows
        if proposal["by"] != not_by
    ]


class ClosureReturned(BaseModel):
    """A closure this person proposed that leadership sent back, with why: theirs to mend and propose again."""

    case_id: str
    student_ref: str
    grade: str
    class_name: str
    returned_by: str
    returned_at: datetime
    comment: str | None


def closures_returned(engine: Engine, school_id: str, proposer: str, limit: int = 100) -> list[ClosureReturned]:
    """The open cases of the school whose latest closure decision sent back a closure ``proposer`` proposed,
    with no new proposal since. A decision that sent a closure back left the case's state as it was (an
    approval closes it), so only the few cases found are unsealed (their student, the decision's comment)."""
    decided = ("close", "closure_decision")
    with Session(engine) as session:
        # from the cases that ever had a decision (the events' (action, case_id) index), not every case
        candidates = session.exec(
            select(CaseRow.case_id)
            .join(CaseEventRow, col(CaseEventRow.case_id) == col(CaseRow.case_id))
            .where(col(CaseEventRow.action) == "closure_decision", col(CaseRow.school_id) == school_id,
                   col(CaseRow.closure_proposal).is_(None), col(CaseRow.state) != "closed")
            .distinct().order_by(col(CaseRow.case_id)).limit(limit)
        ).all()
        if not candidates:
            return []
        events = session.exec(
            select(CaseEventRow.case_id, CaseEventRow.seq, CaseEventRow.action, CaseEventRow.actor,
                   CaseEventRow.to_state)
            .where(col(CaseEventRow.case_id).in_(candidates), col(CaseEventRow.action).in_(decided))
            .order_by(col(CaseEventRow.case_id), col(CaseEventRow.seq).desc())
        ).all()
        latest: dict[str, list] = {}
        for event in events:
            latest.setdefault(event.case_id, []).append(event)
        found = []
        for case_id in candidates:
            last = latest.get(case_id, [])[:2]
            if (len(last) == 2 and last[0].action == "closure_decision" and last[0].to_state != "closed"
                    and last[1].action == "close" and last[1].actor == proposer):
                row, decision = session.get(CaseRow, case_id), session.get(CaseEventRow, (case_id, last[0].seq))
                found.append(ClosureReturned(case_id=case_id, student_ref=row.student_ref, grade=row.grade,
                                             class_name=row.class_name, returned_by=decision.actor,
                                             returned_at=decision.at, comment=decision.detail.get("comment")))
    return found
