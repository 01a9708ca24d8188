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
and the docs can say them in words. The rows come from ../shared/DOMAIN.md
(referral and crisis-intervention flow, seed 002 六; early warning, seed 002 四).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from transitions import Machine

from models.domain import (
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


@dataclass(frozen=True)
class Opens:
    """An obligation the action starts (its deadline comes from the case's policy)."""

    obligation: Obligation
    when: str | None = None


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


@dataclass(frozen=True)
class Duty:
    """What an obligation is: who owns it, and the notice that asks them to meet it."""

    owner: Recipient
    notice: NotificationEvent


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
    then: Action | None = None  # the workflow's own step that follows
    limit: int | None = None  # at most this many times a case (records-only actions)

    @property
    def workflow_only(self) -> bool:
        return not self.roles


#: Who owns each obligation and what tells them it opened (DOMAIN.md: referral flow, people).
OBLIGATIONS: dict[Obligation, Duty] = {
    O.assess: Duty(Recipient.psychology_teacher, N.case_opened),
    O.guardian_notice: Duty(Recipient.head_teacher, N.guardian_notice_required),
    O.intervene: Duty(Recipient.psychology_teacher, N.intervention_required),
    O.guardian_answer: Duty(Recipient.head_teacher, N.referral_made),
    O.report: Duty(Recipient.leadership, N.guardian_refused),
}

#: How often an action that leaves the state as it is may be recorded on one case: a daily contact
#: for a school year, and a bound on what the workflow carries.
RECORDS_LIMIT = 200

_STAFF_WHO_ACT = frozenset({R.psychology_teacher, R.expert})
_CASEWORK = frozenset({R.psychology_teacher, R.leadership})
_GUARDIAN_CONTACT = frozenset({R.head_teacher, R.psychology_teacher})

RULES: tuple[Rule, ...] = (
    Rule(
        A.open, (), S.identified, SCHOOL_ROLES,
        opens=(Opens(O.assess),),
        # signs of a crisis go to the leadership group at once [seed 002, 四 1]
        tells=(Tells(N.case_opened, (Recipient.leadership,), when="has_warning_signals"),),
    ),
    Rule(
        A.assess, (S.identified,), S.assessed, _STAFF_WHO_ACT,
        sets=(Fact.risk_level,),
        meets=(O.assess,),
        opens=(Opens(O.guardian_notice, when="high_risk_guardian_not_notified"),
               Opens(O.intervene, when="moderate_or_higher")),
        renders=(Renders(DocumentKind.guardian_notice, when="high_risk"),),
    ),
    Rule(
        A.guardian_notice, (S.assessed, S.intervened, S.referred), None, _GUARDIAN_CONTACT,
        sets=(Fact.guardian_notified,),
        meets=(O.guardian_notice,),
        limit=RECORDS_LIMIT,
    ),
    Rule(
        A.intervene, (S.assessed,), S.intervened, _STAFF_WHO_ACT,
        meets=(O.intervene,),
    ),
    Rule(
        A.refer, (S.intervened,), S.referred, _CASEWORK,
        guard=("guardian_notified_if_high",),
        opens=(Opens(O.guardian_answer),),
        renders=(Renders(DocumentKind.referral_letter),),
    ),
    Rule(
        A.guardian_response, (S.referred,), None, _GUARDIAN_CONTACT, variant="consent",
        sets=(Fact.guardian_consented,),
        meets=(O.guardian_answer,),
        limit=RECORDS_LIMIT,
    ),
    Rule(
        A.guardian_response, (S.referred,), S.parent_refused, _GUARDIAN_CONTACT, variant="refuse",
        meets=(O.guardian_answer,),
        opens=(Opens(O.report),),
        then=A.report,  # a refusal is reported to the education authority [seed 002, 六 3]
    ),
    Rule(
        A.report, (S.parent_refused,), S.reported, frozenset(),
        meets=(O.report,),
        renders=(Renders(DocumentKind.authority_report),),
        tells=(Tells(N.reported_to_authority, (Recipient.education_authority, Recipient.leadership)),),
    ),
    Rule(
        A.close, (S.assessed,), S.closed, _CASEWORK,
        guard=("risk_is_low",),
        renders=(Renders(DocumentKind.closure_summary),),
        tells=(Tells(N.case_closed, (Recipient.leadership, Recipient.head_teacher)),),
    ),
    Rule(
        A.close, (S.intervened, S.reported), S.closed, _CASEWORK,
        renders=(Renders(DocumentKind.closure_summary),),
        tells=(Tells(N.case_closed, (Recipient.leadership, Recipient.head_teacher)),),
    ),
    Rule(
        A.close, (S.referred,), S.closed, _CASEWORK,
        guard=("consent_on_record",),
        renders=(Renders(DocumentKind.closure_summary),),
        tells=(Tells(N.case_closed, (Recipient.leadership, Recipient.head_teacher)),),
    ),
)

#: Every condition of the table, in words a 409 and the docs can show.
CONDITION_TEXT = {
    "risk_is_low": "closing straight after the assessment needs risk level low; "
    "moderate or higher needs an intervention plan first",
    "guardian_notified_if_high": "a high or imminent case needs a recorded guardian notice before referral",
    "consent_on_record": "closing a referred case needs the guardian's consent on record",
    "has_warning_signals": "if a warning signal was reported",
    "high_risk": "if the risk is high or imminent",
    "high_risk_guardian_not_notified": "if the risk is high or imminent and the guardian is not yet notified",
    "moderate_or_higher": "if the risk is moderate or higher",
}

#: Actions staff may ask for on an open case, in lifecycle order.
STAFF_ACTIONS: tuple[Action, ...] = tuple(dict.fromkeys(r.action for r in RULES if r.roles and r.source))
#: Every action of the table, in lifecycle order.
ALL_ACTIONS: tuple[Action, ...] = tuple(dict.fromkeys(r.action for r in RULES))


def roles_for(action: Action | str) -> frozenset[StaffRole]:
    """The roles allowed to ask for an action (empty for the workflow's own steps)."""
    roles = [r.roles for r in RULES if r.action == action]
    if not roles:
        raise KeyError(action)
    return frozenset().union(*roles)


def rules_for(action: Action | str, variant: str | None = None) -> list[Rule]:
    return [r for r in RULES if r.action == action and (r.variant is None or r.variant == variant)]


def rule_for(action: Action | str) -> Rule:
    """The single row of an action that has one (``open``, ``report``)."""
    (rule,) = rules_for(action)
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

    def under_limit(self, rule: Rule) -> bool:
        return rule.limit is None or self.counts.get(rule.action.value, 0) < rule.limit

    def holds(self, condition: str | None) -> bool:
        return condition is None or getattr(self, condition)()

    # conditions, named in RULES
    def risk_is_low(self) -> bool:
        return self.risk_level is RiskLevel.low

    def high_risk(self) -> bool:
        return self.risk_level in (RiskLevel.high, RiskLevel.imminent)

    def moderate_or_higher(self) -> bool:
        return self.risk_level is not None and self.risk_level.rank >= RiskLevel.moderate.rank

    def high_risk_guardian_not_notified(self) -> bool:
        return self.high_risk() and not self.guardian_notified

    def guardian_notified_if_high(self) -> bool:
        return not self.high_risk() or self.guardian_notified

    def consent_on_record(self) -> bool:
        return self.guardian_consented

    def has_warning_signals(self) -> bool:
        return self.warning_signals


class Refused(Exception):
    """An action not allowed now: says why and what is allowed."""

    def __init__(self, message: str, state: CaseState, allowed: list[str]) -> None:
        super().__init__(message)
        self.state = state
        self.allowed = allowed


class Forbidden(Exception):
    """The actor's role may not take this action (whatever the state)."""


def _trigger(index: int, rule: Rule) -> str:
    return f"{rule.action.value}_{rule.variant or 'any'}_{index}"


_TRIGGERS = {rule: _trigger(i, rule) for i, rule in enumerate(RULES)}


@dataclass
class CaseMachine:
    """A ``transitions`` machine over :class:`CaseFacts`, built from RULES."""

    facts: CaseFacts = field(default_factory=CaseFacts)

    def __post_init__(self) -> None:
        self._machine = Machine(
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
    def of(cls, case) -> "CaseMachine":
        """The machine of a case's state (a ``models.case.CaseData``)."""
        machine = cls.at(case.state, case.risk_level, case.guardian_notified, case.guardian_consented,
                         bool(case.warning_signals))
        machine.facts.counts = dict(case.counts)
        return machine

    @property
    def state(self) -> CaseState:
        return CaseState(self.facts.state)

    def sync(self, case) -> None:
        """Take the facts an action set on the case."""
        self.facts.risk_level = case.risk_level
        self.facts.guardian_notified = case.guardian_notified
        self.facts.guardian_consented = case.guardian_consented
        self.facts.counts = dict(case.counts)

    def _passes(self, rule: Rule) -> bool:
        return self.facts.under_limit(rule) and all(self.facts.holds(c) for c in rule.guard)

    def allowed_actions(self, staff_only: bool = True) -> list[str]:
        names: list[str] = []
        for rule in RULES:
            if staff_only and rule.workflow_only:
                continue
            if self.state in rule.source and self._passes(rule) and rule.action.value not in names:
                names.append(rule.action.value)
        return names

    def check(self, action: Action | str, variant: str | None = None, role: StaffRole | None = None) -> Rule:
        """The rule that lets ``action`` happen now; :class:`Refused` or :class:`Forbidden` saying why."""
        candidates = [r for r in rules_for(action, variant) if r.source]
        if not candidates:
            raise Refused(f"unknown action {action!r}", self.state, self.allowed_actions())
        name = Action(action).value
        here = [r for r in candidates if self.state in r.source]
        if not here:
            raise Refused(f"{name} is not allowed in state {self.state.value}", self.state, self.allowed_actions())
        if role is not None and not any(role in r.roles for r in here):
            raise Forbidden(f"role {StaffRole(role).value} may not {name}")
        for rule in here:
            if self._passes(rule):
                return rule
        failed = [CONDITION_TEXT[c] for r in here for c in r.guard if not self.facts.holds(c)]
        failed += [f"it is recorded at most {r.limit} times on a case" for r in here if not self.facts.under_limit(r)]
        reasons = "; ".join(dict.fromkeys(failed))
        raise Refused(
            f"{name} is not allowed in state {self.state.value}: {reasons}", self.state, self.allowed_actions()
        )

    def fire(self, action: Action | str, variant: str | None = None, role: StaffRole | None = None) -> Rule:
        """Check and take the transition; returns the rule that fired."""
        rule = self.check(action, variant, role)
        getattr(self.facts, _TRIGGERS[rule])()
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
    opens = "; ".join(_when(o.obligation.value, o.when) for o in rule.opens)
    renders = "; ".join(_when(r.document.value, r.when) for r in rule.renders)
    tells = "; ".join(_when(f"{t.event.value} to {', '.join(r.value for r in t.to)}", t.when) for t in rule.tells)
    then = rule.then.value if rule.then else ""
    if rule.limit:
        guard = "; ".join(filter(None, [guard, f"at most {rule.limit} times a case"]))
    return [name, source, dest, who, guard, sets, meets, opens, renders, tells, then]


def table_markdown() -> str:
    """The table as Markdown, for docs/architecture.md (a test keeps the two equal)."""
    head = ["action", "from", "to", "who", "guard", "sets", "meets", "opens", "renders", "tells", "then"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_row(rule)) + " |" for rule in RULES]
    return "\n".join(lines)


def obligations_markdown() -> str:
    """Who owns each obligation and which notice opens it, for docs/architecture.md."""
    lines = ["| obligation | owner | notice when it opens | 中文 |", "|---|---|---|---|"]
    for o, d in OBLIGATIONS.items():
        lines.append(f"| {o.value} | {d.owner.value} | {d.notice.value} | {OBLIGATION_ZH[o]} |")
    return "\n".join(lines)
