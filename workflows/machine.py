"""The transition table: the one place where actions, their rules and their consequences live.

Each :class:`Rule` says when an action may happen (from which states, by
which roles, under which guards) and everything firing it causes: the facts
it sets, the obligations it meets and opens, the documents it renders, who
is told, and the workflow's own step that follows. The workflow
(``workflows/case_workflow.py``) reads the row and does what it says; the
API takes its roles and its 409s from here; the read model computes
``allowed_actions`` with the same machine; ``table_markdown()`` prints the
table into docs/architecture.md (a test keeps the two equal).

Conditions (guards, and the ``when`` of a consequence) are named methods of
:class:`CaseFacts`, with their wording in ``CONDITION_TEXT``, so a refusal
and the docs can say them in words. The rows come from docs/domain.md
(referral and crisis-intervention flow, seed 002 六; early warning, seed 002 四).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from transitions import Machine

from models.domain import (
    CASE_WORKERS,
    OBLIGATION_ZH,
    SCHOOL_ROLES,
    Action,
    CaseState,
    DocumentKind,
    NotificationEvent,
    Obligation,
    Recipient,
    RiskLevel,
    StaffRole,
)
from models.errors import Forbidden, Refused

S = CaseState
R = StaffRole
A = Action
O = Obligation  # noqa: E741 - reads as the table's column
N = NotificationEvent


class Fact(StrEnum):
    """What an action records about the case, beyond its state."""

    risk_level = "risk_level"  # the assessment's resolved risk level
    guardian_notified = "guardian_notified"
    guardian_consented = "guardian_consented"
    has_plan = "has_plan"
    closure_proposal = "closure_proposal"  # who proposes closing, with the closure body
    no_closure_proposal = "no_closure_proposal"  # the proposal is sent back
    follow_up = "follow_up"  # the closing body advises following the student up (the watch list)
    assessor = "assessor"  # who first assessed the case, its owner from then on (OWNER)
    owner = "owner"  # the owner leadership names instead (reassign)
    extreme_event = "extreme_event"  # an extreme event concerning the student is on record


@dataclass(frozen=True)
class Opens:
    """An obligation the action starts (its deadline comes from the case's policy)."""

    obligation: Obligation
    when: str | None = None
    since: str | None = None  # a feature the case must run with (see CASEWORK)
    until: str | None = None  # a feature that replaced this opening (older cases keep it)
    #: the policy's window for this opening instead of the obligation's own (a ``DeadlinePolicy`` field); an
    #: obligation already open is brought forward to it
    within: str | None = None


@dataclass(frozen=True)
class Renders:
    """A document the action makes."""

    document: DocumentKind
    when: str | None = None


@dataclass(frozen=True)
class Tells:
    """A notification that the action happened, to these recipients."""

    event: NotificationEvent
    to: tuple[Recipient, ...]
    when: str | None = None
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True)
class Lists:
    """The student goes on the watch list (重点关注; workflows/watch_workflow.py), owned by the case's owner."""

    when: str | None = None
    since: str | None = None


@dataclass(frozen=True)
class Duty:
    """What an obligation is: who owns it, and the notice that asks them to meet it."""

    owner: Recipient
    notice: NotificationEvent
    lapses_at_close: bool = False  # recurs while the case is open; closing needs no reason for it
    #: the workflow's own step taken when the deadline passes unmet (instead of the ladder)
    on_miss: "Action | None" = None


@dataclass(frozen=True)
class Rule:
    """One row of the table. ``dest=None`` records without changing state; an empty
    ``source`` starts a case; empty ``roles`` is a step only the workflow takes."""

    action: Action
    source: tuple[CaseState, ...]
    dest: CaseState | None
    roles: frozenset[StaffRole]
    guard: tuple[str, ...] = ()
    variant: str | None = None  # e.g. guardian_response's decision
    sets: tuple[Fact, ...] = ()
    meets: tuple[Obligation, ...] = ()
    opens: tuple[Opens, ...] = ()
    renders: tuple[Renders, ...] = ()
    tells: tuple[Tells, ...] = ()
    lists: tuple[Lists, ...] = ()  # the student goes on the watch list
    then: Action | None = None  # the workflow's own step that follows
    limit: int | None = None  # at most this many times a case (records-only actions)
    reschedules: tuple[Obligation, ...] = ()  # open deadlines recomputed from the new facts
    since: str | None = None  # a feature the case must run with (see CASEWORK)
    until: str | None = None  # a feature that replaced this row (older cases keep it)

    @property
    def workflow_only(self) -> bool:
        return not self.roles


@dataclass(frozen=True)
class ActionSpec:
    """What an action is called, beside its rows: its API path (``POST /cases/{id}/<path>``), a line for
    the API's docs, and its words (zh-CN first). Everything else about it is its rows'.

    Adding a staff action (docs/architecture.md, "Adding an action"): its entry here, its rows in
    RULES, its body model in ``models/case.py`` (a ``…Command`` naming the action), and its form in
    ``api/web/forms.py`` (FORMS). Routes, access rules, the offered buttons, the docs tables and the
    words are read from these; tests/test_actions.py fails when one of them is missing.
    """

    zh: str
    en: str
    path: str | None = None  # None: the workflow's own step, or the open route (POST /cases)
    summary: str = ""


ACTIONS: dict[Action, ActionSpec] = {
    A.open: ActionSpec("识别并建档", "identified and recorded"),
    A.assess: ActionSpec("心理危机评估", "crisis assessment", "assessment",
                         "Record a crisis assessment, or a reassessment"),
    A.guardian_notice: ActionSpec("告知监护人", "guardian informed", "guardian-notice",
                                  "Record that the guardian was notified"),
    A.intervene: ActionSpec("制定干预方案（一人一策）", "intervention plan", "intervention",
                            "Start an intervention (one student, one plan)"),
    A.plan: ActionSpec("修订安全计划", "safety plan revised", "plan",
                       "Make or revise the safety plan once past the assessment"),
    A.contact: ActionSpec("咨询与联系", "session or contact", "contacts",
                          "Record a session or contact (the consultation ledger)"),
    A.review: ActionSpec("跟踪回访", "follow-up review", "review",
                         "Record a follow-up review; a worse trend asks for a reassessment"),
    A.refer: ActionSpec("转介", "referral", "referral",
                        "Refer to a medical institution (urgent: straight from an imminent assessment)"),
    A.guardian_response: ActionSpec("监护人答复", "guardian's answer", "guardian-response",
                                    "Record the answer to a referral (also a later consent)"),
    A.referral_outcome: ActionSpec("转介结果", "referral outcome", "referral-outcome",
                                   "Record what came of the referral"),
    A.return_meeting: ActionSpec("返校会商", "return-to-school meeting", "return-meeting",
                                 "Record the return-to-school meeting after a discharge"),
    A.report: ActionSpec("向教育主管部门报告", "report to the education authority"),
    A.close: ActionSpec("结案", "closure", "closure",
                        "Close the case; for a high or imminent case, propose closing it (202, for leadership "
                        "to decide)"),
    A.closure_decision: ActionSpec("结案审批", "closure decision", "closure-decision",
                                   "Approve or send back a proposed closure"),
    A.emergency_response: ActionSpec("应急处置", "emergency response", "emergency-response",
                                     "Record the emergency plan as carried out for an imminent risk: who stays "
                                     "with the student, the guardian, 120/110, where the student is"),
    A.reassign: ActionSpec("更换负责心理教师", "owner reassigned", "reassign",
                           "Name another psychology teacher the case's owner (leadership); both are told"),
    A.deemed_refusal: ActionSpec("视为拒绝就医", "deemed a refusal"),
    A.extreme_event: ActionSpec("关联极端事件", "an extreme event recorded"),
    A.send_report: ActionSpec("确认并报送教育主管部门", "report confirmed and sent to the education authority",
                              "authority-report", "Confirm the refusal report the school prepared and send it to the "
                              "education authority (leadership; a note may go with it)"),
    A.guardian_callback: ActionSpec("回电监护人", "guardian called back", "guardian-callback",
                                    "Record that the head teacher called the guardian back, as the guardian asked "
                                    "through the notice's answer link"),
    A.reopen: ActionSpec("重新开案", "reopened", "reopen",
                         "Take a closed case up again (leadership, within the policy's reopen_within): the same "
                         "case and history, in a new run, back in assessed with a reassessment due"),
}


#: Who owns each obligation and what tells them it opened (docs/domain.md: the referral flow, who takes part).
#: ``Recipient.owner`` is the case's named psychology teacher (see ``duty_owner``): until the assessment
#: names one, and in cases before OWNER, the school's psychology teachers.
OBLIGATIONS: dict[Obligation, Duty] = {
    O.assess: Duty(Recipient.psychology_teacher, N.case_opened),
    O.guardian_notice: Duty(Recipient.head_teacher, N.guardian_notice_required),
    O.intervene: Duty(Recipient.owner, N.intervention_required),
    O.guardian_answer: Duty(Recipient.head_teacher, N.referral_made),
    O.report: Duty(Recipient.leadership, N.guardian_refused),
    O.review: Duty(Recipient.owner, N.review_due, lapses_at_close=True),
    O.reassess: Duty(Recipient.owner, N.reassessment_required),
    O.return_meeting: Duty(Recipient.head_teacher, N.return_meeting_required),
    # not a case's: an extreme event's review (workflows/incident_workflow.py), on the same ladder; the
    # education authority's duty [seed 000, 重点事项清单, 一 5], its group's once formed
    O.review_report: Duty(Recipient.education_authority, N.incident_recorded),
    # 对紧急情况，应立即启动应急预案，采取紧急措施 [seed 000, 学校心理防护工作制度, 第八条]
    O.emergency_response: Duty(Recipient.owner, N.emergency_response_required),
    # a referral not attended: the head teacher follows the family up; unmet, it is deemed a refusal
    O.attendance_followup: Duty(Recipient.head_teacher, N.referral_not_attended, on_miss=A.deemed_refusal),
    # not a case's: a watch-listed student's review (workflows/watch_workflow.py), on the same ladder
    O.watch_review: Duty(Recipient.owner, N.watch_added),
    # the guardian asked through the notice's answer link to be called (GUARDIAN_ONLINE): the class's head teacher
    O.guardian_callback: Duty(Recipient.head_teacher, N.guardian_callback_requested),
    # not a case's: a student's or parent's help request (workflows/help_workflow.py), on its own ladder
    O.help_look: Duty(Recipient.psychology_teacher, N.help_requested),
}

#: How often an action that leaves the state as it is may be recorded on one case: a daily contact
#: for a school year, and a bound on what the workflow carries.
RECORDS_LIMIT = 200

#: The casework of schools (reassessment, reviews, plans, contacts, hospital outcome, closure approval,
#: reopening, the green channel): rows and consequences marked with it apply to cases whose workflow
#: took this patch (every case opened or continued since); older histories replay without them.
CASEWORK = "casework-2026-11"

#: The response scaled to the risk (issue 25): the guardian notice and the ladder's step follow the case's
#: risk level (``DeadlinePolicy.guardian_notice_for``, ``escalation_step_for``), and an imminent risk opens
#: the emergency response; older histories keep one pace and no emergency duty.
RISK_PACE = "risk-pace-2026-12"
#: High once, high for closure (issue 25): a case that ever reached high or imminent risk needs the guardian
#: notice on record and the two-person approval to close, whatever its risk is now.
HIGH_ONCE = "high-once-2026-12"
#: A named owner (issue 25): the assessor owns the case (负责心理教师) and its duties; leadership can
#: reassign it; the ladder's first rung tells the owner and the class's head teacher.
OWNER = "named-owner-2026-12"
#: De facto refusals are reported (issue 25): a refusal on the signed receipt may be recorded any time
#: after the guardian notice, and a referral not attended is followed up, then deemed a refusal.
DE_FACTO = "de-facto-refusal-2026-12"
#: Leadership hears of every new case at once (issue 25; seed 002: 及时向防控工作领导小组报告), content-free.
EVERY_OPENING = "every-opening-told-2026-12"
#: The watch list (issue 25): a case closed with follow-up advised puts its student on the watch list
#: (workflows/watch_workflow.py), owned by the case's owner.
WATCH = "watch-list-2026-12"
#: An extreme event concerning the student (issue 28): recorded on the case, a reassessment due at once, and
#: closing (reason ``extreme_event`` among others) a two-person decision.
EXTREME_EVENT = "extreme-event-2026-12"
#: The school reports, and follows up (issue 28): the refusal report waits for a leader to confirm and send it
#: (unless the school's policy sends it at once), and every later change of a reported case (consent, the
#: hospital's outcome, closure) sends a 续报 to the same authority.
REPORT_CONFIRMED = "report-confirmed-2026-12"
#: The guardian answers from a phone (issue 29): through the notice's one-time link, the guardian consents (also
#: before the referral, to the notice's advice, so the referral then asks for no second answer), refuses, or asks
#: to be called (the head teacher's duty, ``guardian_callback``); recorded as the guardian's, channel online.
GUARDIAN_ONLINE = "guardian-online-2026-12"

_OPEN = (S.assessed, S.intervened, S.referred, S.parent_refused, S.reported)  # assessed and not closed
_STAFF_WHO_ACT = frozenset({R.psychology_teacher, R.expert})
_CASEWORK = frozenset({R.psychology_teacher, R.leadership})
_GUARDIAN_CONTACT = frozenset({R.head_teacher, R.psychology_teacher})
_WATCHERS = frozenset({R.head_teacher, R.psychology_teacher, R.expert})
_LEADERSHIP = frozenset({R.leadership})
_CLOSED_TELLS = (Tells(N.case_closed, (Recipient.leadership, Recipient.head_teacher)),)
_CLOSE_GUARD = ("no_return_meeting_pending", "no_closure_proposed")
#: A closure that advises follow-up puts the student on the watch list.
_FOLLOW_UP = (Lists(when="follow_up_advised", since=WATCH),)

#: A change of a case reported to the authority: the 续报, to the same authority (REPORT_CONFIRMED).
_FOLLOW_UP_RENDERS = (Renders(DocumentKind.followup_report, when="was_reported"),)
_FOLLOW_UP_TELLS = (Tells(N.followup_reported, (Recipient.education_authority,), when="was_reported"),)

#: What every (re)assessment opens: the emergency plan if the risk is imminent, the notice if it is high,
#: the plan if there is none, the reviews.
_ASSESS_OPENS = (
    Opens(O.emergency_response, when="imminent", since=RISK_PACE),
    Opens(O.guardian_notice, when="high_risk_guardian_not_notified"),
    Opens(O.intervene, when="needs_plan"),
    Opens(O.review, when="moderate_or_higher", since=CASEWORK),
)

#: A referral asks for the guardian's answer, unless the guardian consented to the notice's advice already
#: (GUARDIAN_ONLINE).
_ASKS_ANSWER = (Opens(O.guardian_answer, until=GUARDIAN_ONLINE),
                Opens(O.guardian_answer, when="no_consent_yet", since=GUARDIAN_ONLINE))

RULES: tuple[Rule, ...] = (
    Rule(
        A.open, (), S.identified, SCHOOL_ROLES,
        opens=(Opens(O.assess),),
        # signs of a crisis go to the leadership group at once [seed 002, 四 1]; from EVERY_OPENING, every new
        # case does
        tells=(Tells(N.case_opened, (Recipient.leadership,), when="has_warning_signals", until=EVERY_OPENING),
               Tells(N.case_opened, (Recipient.leadership,), when="told_at_once", since=EVERY_OPENING),
               # the school's daily digest instead (workflows/digest_workflow.py), for risk factors only
               Tells(N.openings_digest, (Recipient.leadership,), when="in_digest", since=EVERY_OPENING)),
    ),
    Rule(
        A.assess, (S.identified,), S.assessed, _STAFF_WHO_ACT,
        sets=(Fact.risk_level, Fact.assessor),
        meets=(O.assess,),
        opens=_ASSESS_OPENS,
        renders=(Renders(DocumentKind.guardian_notice, when="high_risk"),),
        tells=(Tells(N.imminent_risk, (Recipient.leadership,), when="imminent", since=CASEWORK),),
    ),
    Rule(  # reassessment [seed 000: 定期评估和跟踪]: deadlines follow the new level
        A.assess, _OPEN, None, _STAFF_WHO_ACT, since=CASEWORK,
        sets=(Fact.risk_level,),
        meets=(O.reassess,),
        opens=_ASSESS_OPENS,
        reschedules=(O.intervene, O.review),
        renders=(Renders(DocumentKind.guardian_notice, when="high_risk_guardian_not_notified"),),
        tells=(Tells(N.imminent_risk, (Recipient.leadership,), when="imminent"),),
    ),
    Rule(
        A.guardian_notice, (S.assessed, S.intervened, S.referred), None, _GUARDIAN_CONTACT,
        sets=(Fact.guardian_notified,),
        meets=(O.guardian_notice,),
        limit=RECORDS_LIMIT,
    ),
    Rule(  # the emergency plan as carried out; leadership heard of the imminent risk with the assessment
        A.emergency_response, _OPEN, None, _STAFF_WHO_ACT | _GUARDIAN_CONTACT | _LEADERSHIP, since=RISK_PACE,
        guard=("imminent",),
        meets=(O.emergency_response,),
        limit=RECORDS_LIMIT,
    ),
    Rule(
        A.intervene, (S.assessed,), S.intervened, _STAFF_WHO_ACT,
        sets=(Fact.has_plan,),
        meets=(O.intervene,),
    ),
    Rule(  # the plan made after an urgent referral, and every revision (one student, one plan)
        A.plan, (S.intervened, S.referred, S.parent_refused, S.reported), None, _STAFF_WHO_ACT, since=CASEWORK,
        sets=(Fact.has_plan,),
        meets=(O.intervene,),
        limit=RECORDS_LIMIT,
    ),
    Rule(  # the consultation ledger (咨询台账): records only
        A.contact, (S.identified, *_OPEN), None, CASE_WORKERS, since=CASEWORK,
        limit=RECORDS_LIMIT,
    ),
    Rule(  # a worse trend asks for a reassessment
        A.review, _OPEN, None, _WATCHERS, variant="worse", since=CASEWORK,
        meets=(O.review,),
        opens=(Opens(O.review, when="moderate_or_higher"), Opens(O.reassess)),
        limit=RECORDS_LIMIT,
    ),
    Rule(  # follow-up reviews go on after a referral and after a refusal report
        A.review, _OPEN, None, _WATCHERS, since=CASEWORK,
        meets=(O.review,),
        opens=(Opens(O.review, when="moderate_or_higher"),),
        limit=RECORDS_LIMIT,
    ),
    Rule(
        A.refer, (S.intervened,), S.referred, _CASEWORK,
        guard=("guardian_notified_if_high",),
        opens=_ASKS_ANSWER,
        renders=(Renders(DocumentKind.referral_letter),),
    ),
    Rule(  # the green channel (绿色通道): an imminent case is referred at once; the plan follows
        A.refer, (S.assessed,), S.referred, _CASEWORK, variant="urgent", since=CASEWORK, until=HIGH_ONCE,
        guard=("imminent",),
        opens=_ASKS_ANSWER,
        renders=(Renders(DocumentKind.referral_letter),),
    ),
    Rule(  # ... with its emergency reason if the guardian is not told yet, whose notice is then due at once
        A.refer, (S.assessed,), S.referred, _CASEWORK, variant="urgent", since=HIGH_ONCE,
        guard=("imminent",),
        opens=_ASKS_ANSWER,
        reschedules=(O.guardian_notice,),
        renders=(Renders(DocumentKind.referral_letter),),
    ),
    Rule(
        A.guardian_response, (S.referred,), None, _GUARDIAN_CONTACT, variant="consent",
        sets=(Fact.guardian_consented,),
        meets=(O.guardian_answer, O.attendance_followup, O.guardian_callback),
        limit=RECORDS_LIMIT,
    ),
    Rule(
        A.guardian_response, (S.referred,), S.parent_refused, _GUARDIAN_CONTACT, variant="refuse",
        meets=(O.guardian_answer, O.attendance_followup, O.guardian_callback),
        opens=(Opens(O.report),),
        then=A.report,  # a refusal is reported to the education authority [seed 002, 六 3]
    ),
    Rule(  # a refusal ticked on the signed receipt, before any referral: reported all the same
        A.guardian_response, (S.assessed, S.intervened), S.parent_refused, _GUARDIAN_CONTACT, variant="refuse",
        since=DE_FACTO,
        guard=("guardian_told",),
        meets=(O.guardian_callback,),
        opens=(Opens(O.report),),
        then=A.report,
    ),
    Rule(  # the guardian agrees to the notice's advice before any referral (GUARDIAN_ONLINE)
        A.guardian_response, (S.assessed, S.intervened), None, _GUARDIAN_CONTACT, variant="consent",
        since=GUARDIAN_ONLINE,
        guard=("guardian_told",),
        sets=(Fact.guardian_consented,),
        meets=(O.guardian_callback,),
        limit=RECORDS_LIMIT,
    ),
    Rule(  # the guardian asks the school to call them: the head teacher's duty (GUARDIAN_ONLINE)
        A.guardian_response, _OPEN, None, _GUARDIAN_CONTACT, variant="callback", since=GUARDIAN_ONLINE,
        guard=("guardian_told",),
        opens=(Opens(O.guardian_callback),),
        limit=RECORDS_LIMIT,
    ),
    Rule(  # ... and the head teacher called back
        A.guardian_callback, _OPEN, None, _GUARDIAN_CONTACT, since=GUARDIAN_ONLINE,
        guard=("callback_asked",),
        meets=(O.guardian_callback,),
        limit=RECORDS_LIMIT,
    ),
    Rule(  # a guardian who refused consents later; a report already made stays on record
        A.guardian_response, (S.parent_refused, S.reported), S.referred, _GUARDIAN_CONTACT, variant="consent",
        since=CASEWORK, until=DE_FACTO,
        sets=(Fact.guardian_consented,),
        meets=(O.report,),
    ),
    Rule(
        A.guardian_response, (S.parent_refused, S.reported), S.referred, _GUARDIAN_CONTACT, variant="consent",
        since=DE_FACTO,
        guard=("was_referred",),
        sets=(Fact.guardian_consented,),
        meets=(O.report, O.attendance_followup),
        renders=_FOLLOW_UP_RENDERS,
        tells=_FOLLOW_UP_TELLS,
    ),
    Rule(  # ... or, refused before any referral, consents to the school's advice: back to the intervention
        A.guardian_response, (S.parent_refused, S.reported), S.intervened, _GUARDIAN_CONTACT, variant="consent",
        since=DE_FACTO,
        guard=("never_referred",),
        sets=(Fact.guardian_consented,),
        meets=(O.report,),
        renders=_FOLLOW_UP_RENDERS,
        tells=_FOLLOW_UP_TELLS,
    ),
    Rule(
        A.referral_outcome, (S.referred,), None, _GUARDIAN_CONTACT | _STAFF_WHO_ACT, variant="discharged",
        since=CASEWORK,
        opens=(Opens(O.return_meeting),),
        meets=(O.attendance_followup,),
        renders=_FOLLOW_UP_RENDERS,
        tells=_FOLLOW_UP_TELLS,
        limit=RECORDS_LIMIT,
    ),
    Rule(  # the family did not take the student: the head teacher follows them up (policy's days)
        A.referral_outcome, (S.referred,), None, _GUARDIAN_CONTACT | _STAFF_WHO_ACT, variant="not_attended",
        since=DE_FACTO,
        opens=(Opens(O.attendance_followup),),
        renders=_FOLLOW_UP_RENDERS,
        tells=_FOLLOW_UP_TELLS,
        limit=RECORDS_LIMIT,
    ),
    Rule(
        A.referral_outcome, (S.referred,), None, _GUARDIAN_CONTACT | _STAFF_WHO_ACT, since=CASEWORK,
        meets=(O.attendance_followup,),
        renders=_FOLLOW_UP_RENDERS,
        tells=_FOLLOW_UP_TELLS,
        limit=RECORDS_LIMIT,
    ),
    Rule(  # the follow-up's deadline passed with neither attendance nor consent: a refusal in fact, reported
        A.deemed_refusal, (S.referred,), S.parent_refused, frozenset(), since=DE_FACTO,
        meets=(O.attendance_followup, O.guardian_answer),
        tells=(Tells(N.refusal_deemed, (Recipient.leadership, Recipient.head_teacher, Recipient.owner)),),
        then=A.report,
    ),
    Rule(  # the school meets before the student returns to class after a hospital stay
        A.return_meeting, (S.referred, S.intervened, S.reported), None, _GUARDIAN_CONTACT | _STAFF_WHO_ACT,
        since=CASEWORK,
        meets=(O.return_meeting,),
        limit=RECORDS_LIMIT,
    ),
    Rule(  # the workflow's own report: at once where the school's policy says so, and in cases before
        A.report, (S.parent_refused,), S.reported, frozenset(),  # REPORT_CONFIRMED
        guard=("reports_automatically",),
        meets=(O.report,),
        renders=(Renders(DocumentKind.authority_report),),
        tells=(Tells(N.reported_to_authority, (Recipient.education_authority, Recipient.leadership)),),
    ),
    Rule(  # a leader confirms the prepared report (with a note, if any) and sends it, within report_within
        A.send_report, (S.parent_refused,), S.reported, _LEADERSHIP, since=REPORT_CONFIRMED,
        guard=("awaits_leadership",),
        meets=(O.report,),
        renders=(Renders(DocumentKind.authority_report),),
        tells=(Tells(N.reported_to_authority, (Recipient.education_authority, Recipient.leadership)),),
    ),
    Rule(
        A.close, (S.assessed,), S.closed, _CASEWORK,
        guard=("risk_is_low", "not_high_for_closure"),
        sets=(Fact.follow_up,),
        renders=(Renders(DocumentKind.closure_summary), *_FOLLOW_UP_RENDERS),
        tells=_CLOSED_TELLS + _FOLLOW_UP_TELLS,
        lists=_FOLLOW_UP,
    ),
    Rule(  # cases without CASEWORK close as they always did
        A.close, (S.intervened, S.reported), S.closed, _CASEWORK, until=CASEWORK,
        renders=(Renders(DocumentKind.closure_summary),),
        tells=_CLOSED_TELLS,
    ),
    Rule(
        A.close, (S.referred,), S.closed, _CASEWORK, until=CASEWORK,
        guard=("consent_on_record",),
        renders=(Renders(DocumentKind.closure_summary),),
        tells=_CLOSED_TELLS,
    ),
    Rule(
        A.close, (S.intervened, S.reported), S.closed, _CASEWORK, since=CASEWORK,
        guard=("not_high_for_closure", *_CLOSE_GUARD),
        sets=(Fact.follow_up,),
        renders=(Renders(DocumentKind.closure_summary), *_FOLLOW_UP_RENDERS),
        tells=_CLOSED_TELLS + _FOLLOW_UP_TELLS,
        lists=_FOLLOW_UP,
    ),
    Rule(
        A.close, (S.referred,), S.closed, _CASEWORK, since=CASEWORK,
        guard=("consent_on_record", "not_high_for_closure", *_CLOSE_GUARD),
        sets=(Fact.follow_up,),
        renders=(Renders(DocumentKind.closure_summary), *_FOLLOW_UP_RENDERS),
        tells=_CLOSED_TELLS + _FOLLOW_UP_TELLS,
        lists=_FOLLOW_UP,
    ),
    Rule(  # a high or imminent case: closing is a two-person decision (Primero, CPOMS)
        A.close, (S.intervened, S.reported), None, _CASEWORK, since=CASEWORK,
        guard=("high_for_closure", "guardian_notice_on_record", *_CLOSE_GUARD),
        sets=(Fact.closure_proposal,),
        tells=(Tells(N.closure_proposed, (Recipient.leadership,)),),
    ),
    Rule(
        A.close, (S.referred,), None, _CASEWORK, since=CASEWORK,
        guard=("consent_on_record", "high_for_closure", "guardian_notice_on_record", *_CLOSE_GUARD),
        sets=(Fact.closure_proposal,),
        tells=(Tells(N.closure_proposed, (Recipient.leadership,)),),
    ),
    Rule(  # an extreme event before any plan: the case may still close, by two people
        A.close, (S.assessed,), None, _CASEWORK, since=EXTREME_EVENT,
        guard=("extreme_event_on_record", *_CLOSE_GUARD),
        sets=(Fact.closure_proposal,),
        tells=(Tells(N.closure_proposed, (Recipient.leadership,)),),
    ),
    Rule(
        A.closure_decision, (S.assessed,), S.closed, _LEADERSHIP, variant="approve", since=EXTREME_EVENT,
        guard=("closure_proposed", "not_the_proposer"),
        renders=(Renders(DocumentKind.closure_summary), *_FOLLOW_UP_RENDERS),
        tells=_CLOSED_TELLS + _FOLLOW_UP_TELLS,
        lists=_FOLLOW_UP,
    ),
    Rule(
        A.closure_decision, (S.assessed,), None, _LEADERSHIP, variant="return", since=EXTREME_EVENT,
        guard=("closure_proposed",),
        sets=(Fact.no_closure_proposal,),
        tells=(Tells(N.closure_returned, (Recipient.owner,)),),
    ),
    Rule(
        A.closure_decision, (S.intervened, S.referred, S.reported), S.closed, _LEADERSHIP, variant="approve",
        since=CASEWORK,
        guard=("closure_proposed", "not_the_proposer"),
        renders=(Renders(DocumentKind.closure_summary), *_FOLLOW_UP_RENDERS),
        tells=_CLOSED_TELLS + _FOLLOW_UP_TELLS,
        lists=_FOLLOW_UP,
    ),
    Rule(
        A.closure_decision, (S.intervened, S.referred, S.reported), None, _LEADERSHIP, variant="return",
        since=CASEWORK,
        guard=("closure_proposed",),
        sets=(Fact.no_closure_proposal,),
        tells=(Tells(N.closure_returned, (Recipient.owner,)),),
    ),
    Rule(  # an extreme event concerns the student (the event's record sends it): reassess at once, leadership told
        A.extreme_event, _OPEN, None, frozenset(), since=EXTREME_EVENT,
        sets=(Fact.extreme_event,),
        opens=(Opens(O.reassess, within="reassess_after_event_within"),),
        tells=(Tells(N.extreme_event_linked, (Recipient.leadership,)),),
        limit=RECORDS_LIMIT,
    ),
    Rule(  # ... before the first assessment: the assessment is due already; leadership told
        A.extreme_event, (S.identified,), None, frozenset(), since=EXTREME_EVENT,
        sets=(Fact.extreme_event,),
        tells=(Tells(N.extreme_event_linked, (Recipient.leadership, Recipient.psychology_teacher)),),
        limit=RECORDS_LIMIT,
    ),
    Rule(  # leadership names another owner; the old and the new are told
        A.reassign, _OPEN, None, _LEADERSHIP, since=OWNER,
        sets=(Fact.owner,),
        tells=(Tells(N.case_reassigned, (Recipient.owner, Recipient.former_owner)),),
        limit=RECORDS_LIMIT,
    ),
    Rule(  # leadership takes a closed case up again: the same case and history, back to a reassessment
        A.reopen, (S.closed,), S.assessed, _LEADERSHIP, since=CASEWORK, until=OWNER,
        guard=("within_reopen_window",),
        opens=(Opens(O.reassess),),
        tells=(Tells(N.case_reopened, (Recipient.owner, Recipient.head_teacher)),),
    ),
    Rule(  # ... its approved closure behind it: a new closure is proposed and decided afresh
        A.reopen, (S.closed,), S.assessed, _LEADERSHIP, since=OWNER,
        guard=("within_reopen_window",),
        sets=(Fact.no_closure_proposal,),
        opens=(Opens(O.reassess),),
        tells=(Tells(N.case_reopened, (Recipient.owner, Recipient.head_teacher)),),
    ),
)

#: Every condition of the table, in words a 409 and the docs can show.
CONDITION_TEXT = {
    "risk_is_low": "closing straight after the assessment needs risk level low; "
    "moderate or higher needs an intervention plan first",
    "guardian_notified_if_high": "a high or imminent case needs a recorded guardian notice before referral",
    "guardian_notice_on_record": "closing a case that was ever high or imminent needs the guardian notice on record",
    "high_for_closure": "for a case that is, or ever was, high or imminent, or that an extreme event concerns",
    "extreme_event_on_record": "if an extreme event concerning the student is on record",
    "reports_automatically": "if the school's policy sends the report at once",
    "awaits_leadership": "if the school's policy has a leader confirm the report",
    "was_reported": "if the case was reported to the education authority",
    "not_high_for_closure": "a case that was ever high or imminent closes only by a proposal and leadership's "
    "approval",
    "consent_on_record": "closing a referred case needs the guardian's consent on record",
    "has_warning_signals": "if a warning signal was reported",
    "told_at_once": "unless the school takes openings with risk factors only in its daily digest",
    "in_digest": "if the school takes openings with risk factors only in its daily digest, and this is one",
    "high_risk": "for a high or imminent case",
    "not_high_risk": "for a low or moderate case",
    "imminent": "if the risk is imminent",
    "high_risk_guardian_not_notified": "if the risk is high or imminent and the guardian is not yet notified",
    "moderate_or_higher": "if the risk is moderate or higher",
    "needs_plan": "if the risk is moderate or higher and there is no plan yet",
    "no_return_meeting_pending": "a student discharged from hospital needs the return-to-school meeting first",
    "no_closure_proposed": "a closure is already proposed and waits for leadership's decision",
    "closure_proposed": "there must be a closure proposal to decide on",
    "not_the_proposer": "the proposer cannot approve their own closure",
    "within_reopen_window": "a closed case can be reopened only within the policy's reopen_within",
    "records_limit": f"it is recorded at most {RECORDS_LIMIT} times on a case",
    "guardian_told": "the guardian notice must be on record first",
    "follow_up_advised": "if the closure advises following the student up",
    "was_referred": "for a case that was referred",
    "never_referred": "for a case never referred",
    "no_consent_yet": "unless the guardian consented already",
    "callback_asked": "the guardian must have asked to be called",
}

#: The same conditions in Chinese, for the staff app's refusals (a test keeps the keys equal).
CONDITION_ZH = {
    "risk_is_low": "评估后直接结案仅限低风险个案；中风险及以上需先制定干预方案",
    "guardian_notified_if_high": "高风险或紧急风险个案转介前，须先记录已告知监护人",
    "guardian_notice_on_record": "曾为高风险或紧急风险的个案结案前，须有告知监护人的记录",
    "high_for_closure": "适用于现在或曾经为高风险、紧急风险的个案，或关联了极端事件的个案",
    "extreme_event_on_record": "须已记录涉及该学生的极端事件",
    "reports_automatically": "学校规定拒绝就医报告自动报送时",
    "awaits_leadership": "须由心理危机干预领导小组成员确认后报送",
    "was_reported": "个案已向教育主管部门报告时",
    "not_high_for_closure": "曾为高风险或紧急风险的个案，须提出结案申请并经领导小组审批",
    "consent_on_record": "已转介个案结案前，须有监护人同意的记录",
    "has_warning_signals": "如报告了预警信号",
    "told_at_once": "学校选择每日汇总仅有高危因素的新个案时，此类个案除外",
    "in_digest": "学校选择每日汇总仅有高危因素的新个案，且本个案属于此类",
    "high_risk": "适用于高风险或紧急风险个案",
    "not_high_risk": "适用于低风险或中风险个案",
    "imminent": "仅限紧急风险个案",
    "high_risk_guardian_not_notified": "如为高风险或紧急风险且尚未告知监护人",
    "moderate_or_higher": "如为中风险及以上",
    "needs_plan": "如为中风险及以上且尚无干预方案",
    "no_return_meeting_pending": "学生出院后须先召开返校会商",
    "no_closure_proposed": "已有结案申请，正等待领导小组审批",
    "closure_proposed": "没有待审批的结案申请",
    "not_the_proposer": "结案申请人不能审批自己的申请",
    "within_reopen_window": "只能在结案后学校政策规定的期限内重新开案",
    "records_limit": f"每个个案最多记录 {RECORDS_LIMIT} 次",
    "guardian_told": "须先记录已告知监护人",
    "follow_up_advised": "如结案时建议继续跟踪关注",
    "was_referred": "适用于已转介的个案",
    "never_referred": "适用于从未转介的个案",
    "no_consent_yet": "监护人尚未同意就医时",
    "callback_asked": "须监护人已请老师联系",
}

#: Actions staff may ask for on an open case, in lifecycle order.
STAFF_ACTIONS: tuple[Action, ...] = tuple(dict.fromkeys(r.action for r in RULES if r.roles and r.source))
#: Every action of the table, in lifecycle order.
ALL_ACTIONS: tuple[Action, ...] = tuple(dict.fromkeys(r.action for r in RULES))
#: Every behaviour a new workflow takes (the patches it records).
ALL_FEATURES: tuple[str, ...] = (CASEWORK, RISK_PACE, HIGH_ONCE, OWNER, DE_FACTO, EVERY_OPENING, WATCH,
                                  EXTREME_EVENT, REPORT_CONFIRMED)


def roles_for(action: Action | str) -> frozenset[StaffRole]:
    """The roles allowed to ask for an action (empty for the workflow's own steps)."""
    roles = [r.roles for r in RULES if r.action == action]
    if not roles:
        raise KeyError(action)
    return frozenset().union(*roles)


def present(part, features) -> bool:
    """Does a row or consequence exist for a case running with ``features``?"""
    return (getattr(part, "since", None) in (None, *features)) and getattr(part, "until", None) not in features


def rules_for(action: Action | str, variant: str | None = None, features=ALL_FEATURES) -> list[Rule]:
    return [r for r in RULES if r.action == action and (r.variant is None or r.variant == variant)
            and present(r, features)]


def rule_for(action: Action | str, features=ALL_FEATURES) -> Rule:
    """The single row of an action that has one (``open``, ``report``, ``reopen``)."""
    (rule,) = rules_for(action, None, features)
    return rule


@dataclass
class CaseFacts:
    """What the conditions look at. The machine sets ``state`` on it."""

    state: str = S.identified.value
    risk_level: RiskLevel | None = None
    guardian_notified: bool = False
    guardian_consented: bool = False
    warning_signals: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    screening_flags: bool = False
    digest: bool = False  # the school takes openings with risk factors only in a daily digest
    has_plan: bool = False
    open_obligations: frozenset[Obligation] = frozenset()
    proposed_by: str | None = None
    follow_up: bool = False  # the closure (or its proposal) advises follow-up
    ever_high: bool = False  # the case reached high or imminent risk at some point
    extreme_event: bool = False  # an extreme event concerning the student is on record
    #: REPORT_CONFIRMED: later changes of a reported case are followed up (续报); a leader sends the report unless
    #: the school's policy sends it at once
    follows_up_reports: bool = False
    confirms_reports: bool = False
    high_once: bool = False  # the case runs with HIGH_ONCE: closing judges by ever_high
    closed_at: datetime | None = None
    reopen_within: timedelta = timedelta(days=180)
    #: set for the check of one action: who asks, and when
    actor: str | None = None
    now: datetime | None = None

    def under_limit(self, rule: Rule) -> bool:
        return rule.limit is None or self.counts.get(rule.action.value, 0) < rule.limit

    def holds(self, condition: str | None) -> bool:
        return condition is None or getattr(self, condition)()

    # conditions, named in RULES
    def risk_is_low(self) -> bool:
        return self.risk_level is RiskLevel.low

    def high_risk(self) -> bool:
        return self.risk_level in (RiskLevel.high, RiskLevel.imminent)

    def not_high_risk(self) -> bool:
        return not self.high_risk()

    def imminent(self) -> bool:
        return self.risk_level is RiskLevel.imminent

    def moderate_or_higher(self) -> bool:
        return self.risk_level is not None and self.risk_level.rank >= RiskLevel.moderate.rank

    def needs_plan(self) -> bool:
        return self.moderate_or_higher() and not self.has_plan

    def high_risk_guardian_not_notified(self) -> bool:
        return self.high_risk() and not self.guardian_notified

    def guardian_notified_if_high(self) -> bool:
        return not self.high_risk() or self.guardian_notified

    def high_for_closure(self) -> bool:
        """Closing judges the risk the case ever had (HIGH_ONCE), or older cases the risk now; a case an extreme
        event concerns closes as a high one (two people decide)."""
        return (self.ever_high or self.high_risk() or self.extreme_event) if self.high_once else self.high_risk()

    def reports_automatically(self) -> bool:
        return not self.confirms_reports

    def awaits_leadership(self) -> bool:
        return self.confirms_reports

    def was_reported(self) -> bool:
        return self.follows_up_reports and (self.counts.get(A.report.value, 0)
                                            + self.counts.get(A.send_report.value, 0)) > 0

    def extreme_event_on_record(self) -> bool:
        return self.extreme_event

    def not_high_for_closure(self) -> bool:
        return not self.high_for_closure()

    def guardian_notice_on_record(self) -> bool:
        return not self.high_for_closure() or self.guardian_notified

    def guardian_told(self) -> bool:
        return self.guardian_notified

    def was_referred(self) -> bool:
        return self.counts.get(A.refer.value, 0) > 0

    def never_referred(self) -> bool:
        return not self.was_referred()

    def no_consent_yet(self) -> bool:
        return not self.guardian_consented

    def callback_asked(self) -> bool:
        return O.guardian_callback in self.open_obligations

    def consent_on_record(self) -> bool:
        return self.guardian_consented

    def has_warning_signals(self) -> bool:
        return self.warning_signals

    def in_digest(self) -> bool:
        return self.digest and not (self.warning_signals or self.screening_flags)

    def told_at_once(self) -> bool:
        return not self.in_digest()

    def no_return_meeting_pending(self) -> bool:
        return O.return_meeting not in self.open_obligations

    def follow_up_advised(self) -> bool:
        return self.follow_up

    def closure_proposed(self) -> bool:
        return self.proposed_by is not None

    def no_closure_proposed(self) -> bool:
        return self.proposed_by is None

    def not_the_proposer(self) -> bool:
        return self.actor is None or self.actor != self.proposed_by

    def within_reopen_window(self) -> bool:
        return self.closed_at is not None and (self.now is None or self.now <= self.closed_at + self.reopen_within)


def _trigger(index: int, rule: Rule) -> str:
    return f"{rule.action.value}_{rule.variant or 'any'}_{index}"


_TRIGGERS = {rule: _trigger(i, rule) for i, rule in enumerate(RULES)}


@dataclass
class CaseMachine:
    """A ``transitions`` machine over :class:`CaseFacts`, built from RULES.

    ``features`` are the behaviours the case runs with (``CASEWORK``): rows and consequences
    marked ``since`` a feature the case lacks do not exist for it.
    """

    facts: CaseFacts = field(default_factory=CaseFacts)
    features: tuple[str, ...] = ALL_FEATURES

    def __post_init__(self) -> None:
        self._transitions: Machine | None = None

    def _machine(self) -> Machine:
        """The ``transitions`` machine that takes a fired rule's transition; built on the first
        ``fire`` (checking and listing what is allowed read the rules and the facts alone, so a
        case's view costs no machine)."""
        if self._transitions is None:
            self._transitions = self._build()
        return self._transitions

    def _build(self) -> Machine:
        return Machine(
            model=self.facts,
            states=[s.value for s in CaseState],
            transitions=[
                {
                    "trigger": _TRIGGERS[r],
                    "source": [s.value for s in r.source],
                    "dest": r.dest.value if r.dest else None,
                    "conditions": list(r.guard),
                }
                for r in RULES
                if r.source
            ],
            initial=self.facts.state,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )

    @classmethod
    def at(
        cls,
        state: CaseState,
        risk_level: RiskLevel | None = None,
        guardian_notified: bool = False,
        guardian_consented: bool = False,
        warning_signals: bool = False,
    ) -> "CaseMachine":
        return cls(CaseFacts(state.value, risk_level, guardian_notified, guardian_consented, warning_signals))

    @classmethod
    def of(cls, case, now: datetime | None = None) -> "CaseMachine":
        """The machine of a case's state (a ``models.case.CaseData``), judged at ``now``."""
        machine = cls(CaseFacts(case.state.value), features=tuple(case.features))
        machine.sync(case)
        machine.facts.warning_signals = bool(case.warning_signals)
        machine.facts.screening_flags = bool(case.screening_flags)
        machine.facts.digest = case.policy.leadership_told_of_openings == "daily_digest"
        machine.facts.now = now
        return machine

    @property
    def state(self) -> CaseState:
        return CaseState(self.facts.state)

    def sync(self, case) -> None:
        """Take the facts the case holds now."""
        f = self.facts
        f.risk_level, f.guardian_notified, f.guardian_consented = (
            case.risk_level, case.guardian_notified, case.guardian_consented)
        f.counts = dict(case.counts)
        f.has_plan = case.has_plan
        f.open_obligations = frozenset(case.open_obligations)
        f.proposed_by = case.closure_proposal.by if case.closure_proposal else None
        # a proposal's advice, when one waits or was approved; else the direct closure's
        f.follow_up = case.closure_proposal.follow_up if case.closure_proposal else case.follow_up
        f.closed_at = case.closed_at
        f.reopen_within = case.policy.reopen_within
        f.ever_high = case.reached_high()
        f.high_once = HIGH_ONCE in self.features
        f.extreme_event = getattr(case, "extreme_event", False)
        f.follows_up_reports = REPORT_CONFIRMED in self.features
        f.confirms_reports = f.follows_up_reports and case.policy.refusal_report == "confirmed"

    def has(self, part) -> bool:
        """Does a row or consequence exist for this case (see ``present``)?"""
        return present(part, self.features)

    def _passes(self, rule: Rule) -> bool:
        return self.facts.under_limit(rule) and all(self.facts.holds(c) for c in rule.guard)

    def allowed_actions(self, staff_only: bool = True) -> list[str]:
        names: list[str] = []
        for rule in RULES:
            if (staff_only and rule.workflow_only) or not self.has(rule):
                continue
            if self.state in rule.source and self._passes(rule) and rule.action.value not in names:
                names.append(rule.action.value)
        return names

    def check(self, action: Action | str, variant: str | None = None, role: StaffRole | None = None,
              actor: str | None = None) -> Rule:
        """The rule that lets ``action`` happen now; :class:`Refused` or :class:`Forbidden` saying why."""
        candidates = [r for r in rules_for(action, variant, self.features) if r.source]
        name = str(getattr(action, "value", action))
        if not candidates:
            raise Refused(f"unknown action {action!r}", self.state, self.allowed_actions(), name, ("unknown_action",))
        here = [r for r in candidates if self.state in r.source]
        if not here:
            raise Refused(f"{name} is not allowed in state {self.state.value}", self.state, self.allowed_actions(),
                          name)
        if role is not None and not any(role in r.roles for r in here):
            raise Forbidden(f"role {StaffRole(role).value} may not {name}", StaffRole(role).value, name)
        self.facts.actor = actor
        try:
            for rule in here:
                if (role is None or role in rule.roles) and self._passes(rule):
                    return rule
            failed = [c for r in here for c in r.guard if not self.facts.holds(c)]
        finally:
            self.facts.actor = None
        failed += ["records_limit" for r in here if not self.facts.under_limit(r)]
        codes = tuple(dict.fromkeys(failed))
        reasons = "; ".join(CONDITION_TEXT[c] for c in codes)
        raise Refused(
            f"{name} is not allowed in state {self.state.value}: {reasons}", self.state, self.allowed_actions(),
            name, codes,
        )

    def fire(self, action: Action | str, variant: str | None = None, role: StaffRole | None = None,
             actor: str | None = None) -> Rule:
        """Check and take the transition; returns the rule that fired."""
        rule = self.check(action, variant, role, actor)
        self._machine()
        self.facts.actor = actor
        try:
            getattr(self.facts, _TRIGGERS[rule])()
        finally:
            self.facts.actor = None
        return rule


# ------------------------------------------------------------------ the docs


def _when(text: str, condition: str | None) -> str:
    return f"{text} ({CONDITION_TEXT[condition]})" if condition else text


def _row(rule: Rule) -> list[str]:
    name = rule.action.value + (f" ({rule.variant})" if rule.variant else "")
    source = ", ".join(s.value for s in rule.source) or "(a new case)"
    dest = rule.dest.value if rule.dest else "unchanged (records only)"
    who = ", ".join(sorted(r.value for r in rule.roles)) or "the workflow itself"
    guard = "; ".join(CONDITION_TEXT[c] for c in rule.guard)
    sets = ", ".join(f.value for f in rule.sets)
    meets = ", ".join(o.value for o in rule.meets)
    opens = "; ".join(_when(o.obligation.value + (f" by {o.within}" if o.within else ""), o.when)
                      for o in rule.opens)
    renders = "; ".join(_when(r.document.value, r.when) for r in rule.renders)
    tells = "; ".join(_when(f"{t.event.value} to {', '.join(r.value for r in t.to)}", t.when) for t in rule.tells)
    then = "; ".join(filter(None, [rule.then.value if rule.then else "",
                                   *(_when("the watch list", w.when) for w in rule.lists)]))
    if rule.limit:
        guard = "; ".join(filter(None, [guard, f"at most {rule.limit} times a case"]))
    if rule.since:
        name += f" [{rule.since}]"
    if rule.until:
        name += f" [before {rule.until}]"
    if rule.reschedules:
        opens = "; ".join(filter(None, [opens, "reschedules " + ", ".join(o.value for o in rule.reschedules)]))
    return [name, source, dest, who, guard, sets, meets, opens, renders, tells, then]


def table_markdown() -> str:
    """The table as Markdown, for docs/architecture.md (a test keeps the two equal)."""
    head = ["action", "from", "to", "who", "guard", "sets", "meets", "opens", "renders", "tells", "then"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_row(rule)) + " |" for rule in RULES]
    return "\n".join(lines)


def obligations_markdown() -> str:
    """Who owns each obligation and which notice opens it, for docs/architecture.md."""
    lines = ["| obligation | owner | notice when it opens | lapses at closure | when missed | 中文 |",
             "|---|---|---|---|---|---|"]
    for o, d in OBLIGATIONS.items():
        lapses = "yes" if d.lapses_at_close else ""
        missed = f"the workflow's step {d.on_miss.value}" if d.on_miss else "the warning ladder"
        lines.append(f"| {o.value} | {d.owner.value} | {d.notice.value} | {lapses} | {missed} | {OBLIGATION_ZH[o]} |")
    return "\n".join(lines)
