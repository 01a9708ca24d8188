"""Pydantic models for everything that crosses a boundary.

API bodies (``*Body``), workflow input and update arguments (``CaseStart``,
``ActionCommand``), the workflow's state (``CaseData``, carried across
continue-as-new) and what it shows (``CaseView``), and activity inputs.
SQLModel tables never cross the workflow boundary; these do.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from models.assessment import resolve_risk
from models.domain import (
    Action,
    CaseState,
    ClosureReason,
    DocumentKind,
    Instrument,
    NotificationEvent,
    Obligation,
    Recipient,
    RiskFactor,
    RiskLevel,
    ScreeningFlag,
    StaffRole,
    WarningSignal,
)
from models.policy import DeadlinePolicy
from models.records import CaseListFields, DocumentFields, NotificationFields
from models.validation import FieldError, clean_line, clean_text

Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), AfterValidator(clean_text)
]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(clean_line)
]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]

#: Times a person states (when the guardian was told, ...) lie in these years; the workflow also
#: holds them between the case's opening and a few minutes from now (``CaseTime``).
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a timezone offset, e.g. 2026-11-22T09:30:00+08:00")
    try:  # the stated year first: 9999-12-31 with an offset of -23:59 lies past what a datetime holds in UTC
        years = range(EARLIEST_YEAR, LATEST_YEAR + 1)
        in_range = value.year in years and value.astimezone(UTC).year in years
    except OverflowError:
        in_range = False
    if not in_range:
        raise ValueError(f"must be a time between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class CaseTime:
    """Marks a field stating when something happened in the case: between its opening and now."""


#: A time in the case's life; the workflow's validator checks it against the case (``case_times``).
CaseDatetime = Annotated[AwareDatetime, CaseTime()]


def case_times(body: BaseModel) -> list[tuple[str, datetime]]:
    """The body's stated times in the case's life, by field name."""
    return [
        (name, getattr(body, name))
        for name, info in type(body).model_fields.items()
        if any(isinstance(m, CaseTime) for m in info.metadata) and getattr(body, name) is not None
    ]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("lists each code once")
    return values


# --------------------------------------------------------------------- people


def case_ref(case_id: str) -> str:
    """A case's short reference, as people and paper name it: ``3F2A-9C1B`` (never the student)."""
    return f"{case_id[:4]}-{case_id[4:8]}".upper()


class Student(Strict):
    ref: Code = Field(description="the school's own student number")
    name: ShortText
    school_id: Code
    grade: ShortText
    class_name: ShortText
    class_id: Code | None = Field(None, description="the class in the school directory (scopes head teachers)")


class Actor(Strict):
    """Who did something, taken from the bearer token, never from the body."""

    staff_id: Code
    role: StaffRole
    school_id: Code | None = None


# ------------------------------------------------------------------ API bodies


class OpenCaseBody(Strict):
    student: Student
    risk_factors: Annotated[list[RiskFactor], AfterValidator(_unique)] = []
    warning_signals: Annotated[list[WarningSignal], AfterValidator(_unique)] = []
    #: what a screening raised (the importer's; a reason of its own, never a warning signal)
    screening_flags: Annotated[list[ScreeningFlag], AfterValidator(_unique)] = []
    summary: Text

    @model_validator(mode="after")
    def _has_a_reason(self) -> "OpenCaseBody":
        if not self.risk_factors and not self.warning_signals and not self.screening_flags:
            raise FieldError("risk_factors", "or warning_signals: name at least one reason the student is at risk",
                             "reason_required")
        return self


#: an instrument's answers: yes or no to each question by its name (flat: no answer nests another)
Answers = Annotated[dict[Annotated[str, StringConstraints(max_length=40)], StrictBool | None], Field(max_length=30)]


class AssessmentBody(Strict):
    instrument: Instrument
    answers: Answers = {}
    risk_level: RiskLevel | None = None
    rationale: Text | None = None
    expert_consulted: StrictBool = False

    @model_validator(mode="after")
    def _scorable(self) -> "AssessmentBody":
        self.resolved_risk()  # raises AssessmentError (a ValueError) naming the field
        return self

    def resolved_risk(self) -> RiskLevel:
        return resolve_risk(self.instrument, self.answers, self.risk_level, self.rationale)


class GuardianNoticeBody(Strict):
    notified_at: CaseDatetime
    channel: Literal["phone", "in_person", "video_call", "message", "letter"]
    guardian_relation: ShortText


class SafetyPlan(Strict):
    """One student, one plan (一人一策): a Stanley-Brown style safety plan."""

    warning_signs: Annotated[list[ShortText], Field(min_length=1, max_length=20)]
    coping_strategies: Annotated[list[ShortText], Field(min_length=1, max_length=20)]
    support_contacts: Annotated[list[ShortText], Field(min_length=1, max_length=20)]
    professional_contacts: Annotated[list[ShortText], Field(min_length=1, max_length=20)]
    environment_safety: Text


class InterventionBody(Strict):
    plan: SafetyPlan
    notes: Text | None = None


class ReferralBody(Strict):
    institution: ShortText
    reason: Text
    urgency: Literal["routine", "urgent"]
    #: why the green channel goes before the guardian is told (required then): the letter prints it
    emergency_reason: Literal["guardian_unreachable", "immediate_danger", "other"] | None = None


class GuardianResponseBody(Strict):
    """The guardian's answer: consent (to the referral, or before it to the notice's advice), refusal, or a request
    to be called (``callback``, GUARDIAN_ONLINE). ``channel`` ``online`` is the notice's one-time link, which only
    the guardian's own answer records."""

    decision: Literal["consent", "refuse", "callback"]
    by: Literal["guardian", "student"]
    notes: Text | None = None
    channel: Literal["in_person", "phone", "paper", "message", "online"] | None = None
    hospital: ShortText | None = Field(None, description="consent: where the student is to be seen")
    expected_on: date | None = Field(None, description="consent: the day the family expects to go")
    call_at: ShortText | None = Field(None, description="callback: when the guardian can be called")
    signer: ShortText | None = Field(None, description="who answered, as they signed")
    relation: ShortText | None = Field(None, description="the signer's relation to the student")

    @model_validator(mode="after")
    def _callback_needs_a_time(self) -> "GuardianResponseBody":
        if self.decision == "callback" and not self.call_at:
            raise FieldError("call_at", "say when the guardian can be called", "callback_needs_time")
        if self.expected_on is not None and not date(2000, 1, 1) <= self.expected_on <= date(2100, 12, 31):
            raise FieldError("expected_on", "a day between 2000 and 2100", "out_of_range")
        return self


class ClosureBody(Strict):
    reason: ClosureReason
    outcome: Text
    rationale: Text
    #: the student stays on the watch list (重点关注) after closing, reviewed by the case's owner
    follow_up: bool = False
    #: why the case closes with an obligation still unmet: one reason for each (the workflow checks)
    unmet_reasons: dict[Obligation, Text] = {}


class ContactBody(Strict):
    """One session or contact, for the consultation ledger (咨询台账); the notes are sealed."""

    with_whom: Literal["student", "guardian", "head_teacher", "classmate", "doctor", "other"]
    at: CaseDatetime
    channel: Literal["in_person", "phone", "video_call", "message", "letter"]
    notes: Text


class ReviewBody(Strict):
    """A follow-up review: what was seen, and which way the risk is going (worse asks for a reassessment)."""

    observations: Text
    trend: Literal["better", "same", "worse"]


class ReferralOutcomeBody(Strict):
    """What came of the referral, as the hospital or the family tells it."""

    outcome: Literal["admitted", "outpatient", "not_attended", "discharged"]
    at: CaseDatetime
    recommendations: Text | None = None


class ReturnMeetingBody(Strict):
    """The meeting before a student returns to class after a hospital stay."""

    held_at: CaseDatetime
    attendees: Annotated[list[ShortText], Field(min_length=1, max_length=20)]
    adjustments: Text


class EmergencyResponseBody(Strict):
    """The emergency plan for an imminent risk, as it was carried out (应急预案): who stays with the
    student, whether the guardian was reached, whether 120 or 110 was called, where the student is now."""

    at: CaseDatetime
    with_student: ShortText  # who stays with the student
    guardian_reached: bool
    emergency_services: Literal["none", "120", "110", "120_110"]
    whereabouts: ShortText  # where the student is now
    notes: Text | None = None


class ClosureDecisionBody(Strict):
    """A leadership member's decision on a proposed closure (never the proposer's own)."""

    decision: Literal["approve", "return"]
    comment: Text | None = None

    @model_validator(mode="after")
    def _return_says_why(self) -> "ClosureDecisionBody":
        if self.decision == "return" and not self.comment:
            raise FieldError("comment", "required when the closure is sent back", "return_needs_comment")
        return self


class ReopenBody(Strict):
    reason: Text


class EventLink(Strict):
    """An extreme event recorded about a case's student (``CaseWorkflow.link_event``; the door sends it when the
    event is recorded): the case records it, a reassessment is due at once, and closing needs two people."""

    incident_id: str
    actor: Actor


class ReassignBody(Strict):
    """Leadership names another psychology teacher the case's owner (负责心理教师); both are told."""

    owner: Code = Field(description="the staff id of the new owner, a psychology teacher of the school")
    reason: Text


# ------------------------------------------------------- workflow commands


class AssessCommand(AssessmentBody):
    action: Literal[Action.assess] = Action.assess


class GuardianNoticeCommand(GuardianNoticeBody):
    action: Literal[Action.guardian_notice] = Action.guardian_notice


class InterveneCommand(InterventionBody):
    action: Literal[Action.intervene] = Action.intervene


class ReferCommand(ReferralBody):
    action: Literal[Action.refer] = Action.refer


class GuardianResponseCommand(GuardianResponseBody):
    action: Literal[Action.guardian_response] = Action.guardian_response


class CloseCommand(ClosureBody):
    action: Literal[Action.close] = Action.close


class PlanCommand(InterventionBody):
    action: Literal[Action.plan] = Action.plan


class ContactCommand(ContactBody):
    action: Literal[Action.contact] = Action.contact


class ReviewCommand(ReviewBody):
    action: Literal[Action.review] = Action.review


class ReferralOutcomeCommand(ReferralOutcomeBody):
    action: Literal[Action.referral_outcome] = Action.referral_outcome


class ReturnMeetingCommand(ReturnMeetingBody):
    action: Literal[Action.return_meeting] = Action.return_meeting


class ClosureDecisionCommand(ClosureDecisionBody):
    action: Literal[Action.closure_decision] = Action.closure_decision


class SendReportBody(Strict):
    """A leader confirms the refusal report the school prepared and sends it; a note goes with it."""

    note: Text | None = None


class SendReportCommand(SendReportBody):
    action: Literal[Action.send_report] = Action.send_report


class GuardianCallbackBody(Strict):
    """The head teacher called the guardian back, as the guardian asked through the answer link."""

    at: CaseDatetime
    reached: bool
    notes: Text


class GuardianCallbackCommand(GuardianCallbackBody):
    action: Literal[Action.guardian_callback] = Action.guardian_callback


class ReopenCommand(ReopenBody):
    action: Literal[Action.reopen] = Action.reopen


class EmergencyResponseCommand(EmergencyResponseBody):
    action: Literal[Action.emergency_response] = Action.emergency_response


class ReassignCommand(ReassignBody):
    action: Literal[Action.reassign] = Action.reassign


ActionBody = Annotated[
    Union[
        AssessCommand,
        GuardianNoticeCommand,
        InterveneCommand,
        ReferCommand,
        GuardianResponseCommand,
        CloseCommand,
        PlanCommand,
        ContactCommand,
        ReviewCommand,
        ReferralOutcomeCommand,
        ReturnMeetingCommand,
        ClosureDecisionCommand,
        ReopenCommand,
        EmergencyResponseCommand,
        ReassignCommand,
        SendReportCommand,
        GuardianCallbackCommand,
    ],
    Field(discriminator="action"),
]


#: The command of each staff action, by action: a body with its ``action`` (forms of the staff app).
COMMANDS: dict[Action, type[Strict]] = {
    cls.model_fields["action"].default: cls for cls in get_args(get_args(ActionBody)[0])
}
#: The body each action's route takes (the command without its ``action``).
BODIES: dict[Action, type[Strict]] = {action: command.__bases__[0] for action, command in COMMANDS.items()}


class ActionCommand(Strict):
    """The argument of the ``act`` update: who does what. ``request``: the request's id under an
    ``Idempotency-Key``; the case takes one request once, however often it arrives and in whichever
    run of its workflow (``CaseData.requests``)."""

    actor: Actor
    body: ActionBody
    request: str | None = Field(default=None, max_length=64)

    @property
    def variant(self) -> str | None:
        """Which row of the transition table the body asks for, where an action has several."""
        for name in VARIANT_FIELDS:
            if (value := getattr(self.body, name, None)) is not None:
                return value
        return None


class OnlineAnswer(Strict):
    """The argument of the ``answer_online`` update: the guardian's own answer through the notice's one-time link
    (GUARDIAN_ONLINE), recorded as the guardian's, channel ``online``; ``link`` is the link's id (its hash)."""

    body: GuardianResponseCommand
    link: Annotated[str, Field(max_length=64)]
    request: str | None = Field(default=None, max_length=64)

    @property
    def variant(self) -> str:
        return self.body.decision


class LinkSms(Strict):
    """The guardian's answer link sent by SMS to the number on record (``LinkSmsWorkflow``); ``sent`` names this
    sending (a person may send it again)."""

    case_id: Annotated[str, Field(max_length=64)]
    link: Annotated[str, Field(max_length=64)]
    sent: Annotated[str, Field(max_length=64)]


#: Body fields that choose among an action's rows: a guardian's decision, a referral's urgency, a
#: review's trend, a referral's outcome, a closure decision.
VARIANT_FIELDS = ("decision", "urgency", "trend", "outcome")


# ------------------------------------------------------------ case state


class DeadlineFields(Strict):
    """An obligation's deadline, as everyone sees it."""

    obligation: Obligation
    responsible_role: Recipient
    due_at: datetime
    met_at: datetime | None = None
    escalation_level: int = 0


class DeadlineView(DeadlineFields):
    pass


class Deadline(DeadlineFields):
    """The workflow's deadline: also when each rung of the ladder was climbed."""

    escalated_at: list[datetime] = []


class EventFields(Strict):
    """One accepted action, timer escalation or automatic step."""

    seq: int
    at: datetime
    action: Action
    actor: str
    actor_role: str
    from_state: CaseState | None
    to_state: CaseState
    obligation: Obligation | None = None
    escalation_level: int | None = None


class EventView(EventFields):
    pass


class CaseEvent(EventFields):
    """An event with its body (the action's details; sealed in the read model), and the request that
    caused it (an ``Idempotency-Key``'s, when there was one)."""

    detail: dict[str, Any] = {}
    request: str | None = None


class FailedEffect(Strict):
    """A notification or document that failed for good (retrying cannot mend it); shown to staff."""

    effect: Literal["notification", "document", "watch"]
    effect_id: str
    reason: str
    at: datetime


class ClosureProposal(Strict):
    """A proposal to close a high or imminent case, waiting for a leadership member's decision."""

    by: str
    at: datetime
    reason: ClosureReason
    outcome: str
    rationale: str
    unmet_reasons: dict[Obligation, str] = {}
    follow_up: bool = False


class Reopening(Strict):
    """A closed case taken up again: who, and why."""

    actor: Actor
    reason: str
    request: str | None = None  # as ActionCommand.request


class CaseStart(Strict):
    """The workflow's input. ``carried`` is set by continue-as-new, and with ``reopen`` by a reopening."""

    case_id: Code
    opened_by: Actor
    case: OpenCaseBody
    policy: DeadlinePolicy
    history_event_limit: int = 10_000
    carried: "CaseData | None" = None
    reopen: Reopening | None = None

    @classmethod
    def reopening(cls, data: "CaseData", actor: Actor, reason: str, history_event_limit: int,
                  request: str | None = None) -> "CaseStart":
        """The input of the run that takes a closed case up again."""
        return cls(
            case_id=data.case_id,
            opened_by=data.opened_by,
            case=OpenCaseBody(student=data.student, risk_factors=data.risk_factors,
                              warning_signals=data.warning_signals, screening_flags=data.screening_flags,
                              summary=data.summary),
            policy=data.policy,
            history_event_limit=history_event_limit,
            carried=data.bounded(),
            reopen=Reopening(actor=actor, reason=reason, request=request),
        )


#: How many requests a case remembers (``CaseData.requests``): a client retries within minutes, and a
#: case takes a few actions a day.
REQUESTS_KEPT = 100


class CaseData(Strict):
    """The whole state of one case; the workflow owns it, the database mirrors it."""

    case_id: str
    school_id: str
    student: Student
    risk_factors: list[RiskFactor]
    warning_signals: list[WarningSignal]
    summary: str
    opened_by: Actor
    screening_flags: list[ScreeningFlag] = []
    opened_at: datetime
    policy: DeadlinePolicy
    state: CaseState = CaseState.identified
    risk_level: RiskLevel | None = None
    guardian_notified: bool = False
    guardian_consented: bool = False
    closed_at: datetime | None = None
    deadlines: list[Deadline] = []
    #: the latest event of each action and those not yet projected; the whole list is in the
    #: history and the read model (the workflow keeps its carried state bounded)
    events: list[CaseEvent] = []
    workflow_code_version: str = "1"
    #: how often each action was taken, and when first (kept when events are trimmed)
    counts: dict[str, int] = {}
    first_at: dict[str, datetime] = {}
    failed_effects: list[FailedEffect] = []
    has_plan: bool = False
    closure_proposal: ClosureProposal | None = None
    #: behaviours this case's workflow runs with (patch ids it took, models.io.Feature)
    features: list[str] = []
    #: the staff ids of who first assessed the case, and of its named owner (负责心理教师): the
    #: assessor, unless leadership reassigned it
    assessor: str | None = None
    owner: str | None = None
    #: the closure advised following the student up (the watch list)
    follow_up: bool = False
    #: an extreme event concerning the student is on record (EXTREME_EVENT): closing needs two people
    extreme_event: bool = False
    #: the requests taken lately (``ActionCommand.request``, the last ``REQUESTS_KEPT``): carried from run
    #: to run, so that a retry arriving after a continue-as-new is not taken again
    requests: list[str] = []

    @property
    def open_obligations(self) -> list[Obligation]:
        return [d.obligation for d in self.deadlines if d.met_at is None]

    def bounded(self, after_seq: int | None = None) -> "CaseData":
        """A copy carrying the latest event of each action (and every event after ``after_seq``):
        what a payload holds, so none grows with the number of actions."""
        latest = {e.action: e.seq for e in self.events}
        keep = set(latest.values())
        events = [e for e in self.events if e.seq in keep or (after_seq is not None and e.seq > after_seq)]
        return self.model_copy(update={"events": events}, deep=True)

    def reached_high(self) -> bool:
        """Did the case ever reach high or imminent risk? Its risk now, or the guardian notice that only such
        an assessment opens: a later downgrade does not make it a case that never was high."""
        return (self.risk_level in (RiskLevel.high, RiskLevel.imminent)
                or any(d.obligation is Obligation.guardian_notice for d in self.deadlines))

    def first(self, action: Action) -> datetime | None:
        """When ``action`` was first taken (cases carried before ``first_at`` existed: from their events)."""
        if action.value in self.first_at:
            return self.first_at[action.value]
        return next((e.at for e in self.events if e.action == action), None)

    @property
    def escalation_level(self) -> int:
        return max((d.escalation_level for d in self.deadlines if d.met_at is None), default=0)

    @property
    def policy_version(self) -> str:
        return self.policy.version


class StudentView(Strict):
    """The student as shown: ``name`` is withheld (null) from roles that may not see it."""

    ref: str
    name: str | None
    school_id: str
    grade: str
    class_name: str
    class_id: str | None = None


class CaseView(Strict):
    """What the API shows of a case, identical from the workflow and the database.

    Roles that may not see who the student is get ``student.name`` and
    ``summary`` as null, and ``withheld`` lists those fields.
    """

    case_id: str
    state: CaseState
    risk_level: RiskLevel | None
    school_id: str
    student: StudentView
    risk_factors: list[RiskFactor]
    warning_signals: list[WarningSignal]
    screening_flags: list[ScreeningFlag] = []
    summary: str | None
    opened_at: datetime
    closed_at: datetime | None
    escalation_level: int
    deadlines: list[DeadlineView]
    allowed_actions: list[str] = []
    policy_version: str
    events: list[EventView]
    failed_effects: list[FailedEffect] = []
    closure_proposal: ClosureProposal | None = None
    assessor: str | None = None
    owner: str | None = None
    withheld: list[str] = []

    def for_reporter(self) -> "CaseView":
        """What a reporter (role ``staff``) sees of a case they reported: what they reported and where the
        case stands, nothing others recorded (risk, deadlines, events, owner, proposals)."""
        withheld = ["risk_level", "deadlines", "events", "allowed_actions", "closure_proposal", "failed_effects",
                    "assessor", "owner", "escalation_level"]
        return self.model_copy(update={"risk_level": None, "deadlines": [], "events": [], "allowed_actions": [],
                                       "closure_proposal": None, "failed_effects": [], "assessor": None,
                                       "owner": None, "escalation_level": 0, "withheld": withheld})

    def without_identity(self) -> "CaseView":
        return self.model_copy(
            update={"student": self.student.model_copy(update={"name": None}), "summary": None,
                    "closure_proposal": None, "withheld": ["student.name", "summary", "closure_proposal"]}
        )


class CaseSummary(CaseListFields, Strict):
    """A row of ``GET /cases``: no narrative."""

    state: CaseState
    risk_level: RiskLevel | None
    grade: str
    class_name: str
    opened_at: datetime
    updated_at: datetime
    next_due_at: datetime | None
    overdue: bool = False

    def for_reporter(self) -> "CaseSummary":
        """A reporter's line: the state of a case they reported, not its risk or its deadlines."""
        return self.model_copy(update={"risk_level": None, "escalation_level": 0, "next_due_at": None,
                                       "overdue": False})


class CasePage(Strict):
    items: list[CaseSummary]
    total: int
    limit: int
    offset: int


# ------------------------------------------------------------ activity inputs


class NotificationRequest(Strict):
    """Who must act on which case by when. Never any student data."""

    notification_id: str
    case_id: str
    school_id: str
    event: NotificationEvent
    recipient_roles: list[Recipient]
    obligation: Obligation | None = None
    due_at: datetime | None = None
    escalation_level: int = 0
    created_at: datetime
    #: the people a person-recipient (``Recipient.owner``, ``former_owner``) stands for, by its value
    named: dict[str, str] = {}
    #: the class whose people a notice not about a case reaches (a watch-listed student's)
    class_id: str | None = None
    #: the cases a digest names (by their short reference in the message)
    items: list[str] = []
    #: the people ``Recipient.investigation_group`` stands for: an extreme event's investigation group
    group: list[str] = []

    @field_validator("recipient_roles")
    @classmethod
    def _someone(cls, value: list[Recipient]) -> list[Recipient]:
        if not value:
            raise ValueError("a notification needs a recipient")
        return value


class NotificationView(NotificationFields, Strict):
    event: NotificationEvent
    recipient_role: Recipient
    recipient_roles: list[Recipient]
    recipient_staff: list[str] = []
    obligation: Obligation | None
    due_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class StepRecord(Strict):
    """What one workflow step writes, in one transaction: the case as it now stands and the step's
    notifications with their outbox rows (``project_step``)."""

    case: CaseData
    notifications: list[NotificationRequest] = []


class DeliveryBatch(Strict):
    """A step's notifications whose outbox rows have somewhere to go (``deliver``)."""

    notifications: list[NotificationRequest]


class DocumentRequest(Strict):
    document_id: str
    kind: DocumentKind
    case: CaseData
    event_seq: int
    created_at: datetime


class DocumentView(DocumentFields, Strict):
    kind: DocumentKind
    #: the forms it can be had in, as "<media type>;<language>" (GET /documents/{id}?lang=…, Accept): those kept,
    #: and those its sealed facts make on first request
    forms: list[str] = []
    created_at: datetime

    @field_validator("forms", mode="before")
    @classmethod
    def _form_names(cls, value: Any) -> list[str]:
        if not isinstance(value, dict):
            return value
        names = {key for key in value if key != "facts"}
        for lang in value.get("facts", {}).get("languages", []):
            names |= {f"application/pdf;{lang}", f"text/plain;{lang}"}
        return sorted(names)


CaseStart.model_rebuild()
