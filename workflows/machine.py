"""The transition table: the only place the lifecycle rules live.

Everything else asks this module: the workflow's update validator (is this
action allowed now?), the API (which roles may ask for it, and the 409 that
lists what is allowed), the database read model (``allowed_actions`` of a
stored case) and the documents. The table below is fed to a ``transitions``
machine; guards are named conditions on :class:`CaseFacts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transitions import Machine

from models.domain import CaseState, RiskLevel, StaffRole

S = CaseState
R = StaffRole


@dataclass(frozen=True)
class Rule:
    """One row of the table. ``dest=None`` records without changing state."""

    trigger: str  # the machine's trigger
    action: str  # the action's public name (API, allowed_actions, events)
    source: tuple[CaseState, ...]
    dest: CaseState | None
    roles: frozenset[StaffRole]  # empty: only the workflow itself may fire it
    conditions: tuple[str, ...] = ()
    variant: str | None = None  # e.g. guardian_response's decision


RULES: tuple[Rule, ...] = (
    Rule("assess", "assess", (S.identified,), S.assessed, frozenset({R.psychology_teacher, R.expert})),
    Rule(
        "guardian_notice",
        "guardian_notice",
        (S.assessed, S.intervened, S.referred),
        None,
        frozenset({R.head_teacher, R.psychology_teacher}),
    ),
    Rule("intervene", "intervene", (S.assessed,), S.intervened, frozenset({R.psychology_teacher, R.expert})),
    Rule(
        "refer",
        "refer",
        (S.intervened,),
        S.referred,
        frozenset({R.psychology_teacher, R.leadership}),
        conditions=("guardian_notified_if_high",),
    ),
    Rule(
        "guardian_consent",
        "guardian_response",
        (S.referred,),
        None,
        frozenset({R.head_teacher, R.psychology_teacher}),
        variant="consent",
    ),
    Rule(
        "guardian_refuse",
        "guardian_response",
        (S.referred,),
        S.parent_refused,
        frozenset({R.head_teacher, R.psychology_teacher}),
        variant="refuse",
    ),
    Rule("report", "report", (S.parent_refused,), S.reported, frozenset()),
    Rule(
        "close_low",
        "close",
        (S.assessed,),
        S.closed,
        frozenset({R.psychology_teacher, R.leadership}),
        conditions=("risk_is_low",),
    ),
    Rule("close", "close", (S.intervened, S.reported), S.closed, frozenset({R.psychology_teacher, R.leadership})),
    Rule(
        "close_referred",
        "close",
        (S.referred,),
        S.closed,
        frozenset({R.psychology_teacher, R.leadership}),
        conditions=("consent_on_record",),
    ),
)

#: What each guard demands, in words a 409 can show.
GUARD_TEXT = {
    "risk_is_low": "closing straight after the assessment needs risk level low; "
    "moderate or higher needs an intervention plan first",
    "guardian_notified_if_high": "a high or imminent case needs a recorded guardian notice before referral",
    "consent_on_record": "closing a referred case needs the guardian's consent on record",
}

#: Public action names that staff may ask for, in lifecycle order.
STAFF_ACTIONS: tuple[str, ...] = tuple(dict.fromkeys(r.action for r in RULES if r.roles))
#: Public action names, staff and workflow, in lifecycle order.
ALL_ACTIONS: tuple[str, ...] = tuple(dict.fromkeys(r.action for r in RULES))


def roles_for(action: str) -> frozenset[StaffRole]:
    """The roles allowed to ask for an action (empty for workflow-only steps)."""
    roles = [r.roles for r in RULES if r.action == action]
    if not roles:
        raise KeyError(action)
    return frozenset().union(*roles)


def rules_for(action: str, variant: str | None = None) -> list[Rule]:
    return [r for r in RULES if r.action == action and (r.variant is None or r.variant == variant)]


@dataclass
class CaseFacts:
    """What the guards look at. The machine sets ``state`` on it."""

    state: str = S.identified.value
    risk_level: RiskLevel | None = None
    guardian_notified: bool = False
    guardian_consented: bool = False

    # guards, named in RULES
    def risk_is_low(self) -> bool:
        return self.risk_level is RiskLevel.low

    def guardian_notified_if_high(self) -> bool:
        return self.risk_level not in (RiskLevel.high, RiskLevel.imminent) or self.guardian_notified

    def consent_on_record(self) -> bool:
        return self.guardian_consented


class Refused(Exception):
    """An action not allowed now: says why and what is allowed."""

    def __init__(self, message: str, state: CaseState, allowed: list[str]) -> None:
        super().__init__(message)
        self.state = state
        self.allowed = allowed


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
                    "trigger": r.trigger,
                    "source": [s.value for s in r.source],
                    "dest": r.dest.value if r.dest else None,
                    "conditions": list(r.conditions),
                }
                for r in RULES
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
    ) -> "CaseMachine":
        return cls(CaseFacts(state.value, risk_level, guardian_notified, guardian_consented))

    @property
    def state(self) -> CaseState:
        return CaseState(self.facts.state)

    def set_facts(
        self, risk_level: RiskLevel | None, guardian_notified: bool, guardian_consented: bool
    ) -> None:
        self.facts.risk_level = risk_level
        self.facts.guardian_notified = guardian_notified
        self.facts.guardian_consented = guardian_consented

    def _passes(self, rule: Rule) -> bool:
        return all(getattr(self.facts, c)() for c in rule.conditions)

    def allowed_actions(self, staff_only: bool = True) -> list[str]:
        names = []
        for rule in RULES:
            if staff_only and not rule.roles:
                continue
            if self.state in rule.source and self._passes(rule) and rule.action not in names:
                names.append(rule.action)
        return names

    def check(self, action: str, variant: str | None = None, role: StaffRole | None = None) -> Rule:
        """The rule that lets ``action`` happen now, or :class:`Refused` saying why."""
        candidates = rules_for(action, variant)
        if not candidates:
            raise Refused(f"unknown action {action!r}", self.state, self.allowed_actions())
        here = [r for r in candidates if self.state in r.source]
        if not here:
            raise Refused(
                f"{action} is not allowed in state {self.state.value}", self.state, self.allowed_actions()
            )
        if role is not None and not any(role in r.roles for r in here):
            raise PermissionError(f"role {StaffRole(role).value} may not {action}")
        for rule in here:
            if self._passes(rule):
                return rule
        failed = [c for r in here for c in r.conditions if not getattr(self.facts, c)()]
        reasons = "; ".join(dict.fromkeys(GUARD_TEXT[c] for c in failed))
        raise Refused(
            f"{action} is not allowed in state {self.state.value}: {reasons}", self.state, self.allowed_actions()
        )

    def fire(self, action: str, variant: str | None = None, role: StaffRole | None = None) -> Rule:
        """Check and take the transition; returns the rule that fired."""
        rule = self.check(action, variant, role)
        getattr(self.facts, rule.trigger)()
        return rule


def table_markdown() -> str:
    """The table as Markdown, for docs/architecture.md (a test keeps the two equal)."""
    lines = ["| action | from | to | who | guard |", "|---|---|---|---|---|"]
    for rule in RULES:
        name = rule.action + (f" ({rule.variant})" if rule.variant else "")
        source = ", ".join(s.value for s in rule.source)
        dest = rule.dest.value if rule.dest else "unchanged (records only)"
        who = ", ".join(sorted(r.value for r in rule.roles)) or "the workflow itself"
        guard = "; ".join(GUARD_TEXT[c] for c in rule.conditions) or ""
        lines.append(f"| {name} | {source} | {dest} | {who} | {guard} |")
    return "\n".join(lines)
