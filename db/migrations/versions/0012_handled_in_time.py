"""the 90 % measure counts fairly: cases.on_time recomputed for every case as the measure now reads

``cases.on_time`` held "every deadline met in time" (recurring reviews included, and counted by the
case's risk now). It now holds the city's measure (db.store.handled_in_time): for a case that reached
high or imminent risk, its assessment, guardian notice and plan (or an urgent referral) each met by
their deadline; None while it never reached high risk or one of the three is undecided. Recomputed
here from plain columns (deadlines and events), so closed cases keep their place in the measure.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_MEASURED = ('assess', 'guardian_notice', 'intervene')


def _time(value):
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _measure(risk, deadlines, last_at, urgent_at):
    if risk not in ('high', 'imminent') and not any(o == 'guardian_notice' for o, _, _ in deadlines):
        return None
    verdicts = []
    for obligation in _MEASURED:
        first = next(((due, met) for o, due, met in deadlines if o == obligation), None)
        if first is None:
            verdicts.append(True)
            continue
        due, met = first
        if obligation == 'intervene' and urgent_at is not None and urgent_at <= due:
            verdicts.append(True)
        elif met is not None:
            verdicts.append(met <= due)
        else:
            verdicts.append(False if last_at is not None and due <= last_at else None)
    if False in verdicts:
        return False
    return None if None in verdicts else True


def upgrade() -> None:
    conn = op.get_bind()
    cases = conn.execute(sa.text("SELECT case_id, risk_level FROM cases")).all()
    for case_id, risk in cases:
        deadlines = [(o, _time(due), _time(met)) for o, due, met in conn.execute(sa.text(
            "SELECT obligation, due_at, met_at FROM case_deadlines WHERE case_id = :c ORDER BY position"),
            {"c": case_id}).all()]
        events = conn.execute(sa.text(
            "SELECT action, from_state, at FROM case_events WHERE case_id = :c ORDER BY seq"), {"c": case_id}).all()
        last_at = _time(events[-1][2]) if events else None
        urgent_at = next((_time(at) for action, source, at in events if action == 'refer' and source == 'assessed'),
                         None)
        conn.execute(sa.text("UPDATE cases SET on_time = :v WHERE case_id = :c"),
                     {"v": _measure(risk, deadlines, last_at, urgent_at), "c": case_id})


def downgrade() -> None:
    pass  # the old reading cannot be told apart from the new one: leave the values as they are
