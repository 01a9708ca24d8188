"""zh-CN case documents rendered from Jinja2 templates (StrictUndefined).

A document is written once: the file goes in atomically under a name made
from its deterministic id, then its row; a rerun finds the row and stops.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateError
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from activities.notify import local_time
from crypto.sealed import engine_keyring, seal
from models import store
from models.case import CaseData, DocumentRequest
from models.domain import (
    OBLIGATION_ZH,
    RISK_FACTOR_ZH,
    RISK_ZH,
    ROLE_ZH,
    STATE_ZH,
    WARNING_SIGNAL_ZH,
    Action,
    DocumentKind,
)
from models.tables import DocumentRow

log = structlog.get_logger(__name__)

TITLES = {
    DocumentKind.guardian_notice: "学生心理健康情况家长告知书",
    DocumentKind.referral_letter: "学生心理危机转介单",
    DocumentKind.authority_report: "关于学生（监护人）拒绝就医情况的报告",
    DocumentKind.closure_summary: "心理危机个案结案小结",
}

_env = Environment(
    loader=PackageLoader("activities", "templates"),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _local(value: datetime | str | None) -> str:
    if not value:
        return "—"
    return local_time(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _span(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours:g} 小时" if hours >= 1 else f"{value.total_seconds() / 60:g} 分钟"


_env.filters["local"] = _local
_env.filters["span"] = _span
_env.filters["role"] = lambda v: ROLE_ZH.get(str(v), str(v))
_env.filters["state"] = lambda v: STATE_ZH[v] if v else "—"
_env.filters["risk"] = lambda v: RISK_ZH[v] if v else "未评估"
_env.filters["obligation"] = lambda v: OBLIGATION_ZH[v]


def detail_of(case: CaseData, action: Action, upto_seq: int | None = None) -> dict:
    """The body of the latest ``action`` event (up to a sequence number)."""
    for event in reversed(case.events):
        if event.action == action and (upto_seq is None or event.seq <= upto_seq):
            return {**event.detail, "at": event.at, "actor": event.actor, "actor_role": event.actor_role}
    return {}


def _assessor(assessment: dict) -> str:
    """Who assessed, in words: an expert when one assessed or was consulted (the notice says so)."""
    if assessment.get("actor_role") == "expert":
        return "心理危机专家"
    if assessment.get("expert_consulted"):
        return "学校心理教师会同心理危机专家"
    return "学校心理教师"


def render_text(request: DocumentRequest) -> str:
    case = request.case
    assessment = detail_of(case, Action.assess, request.event_seq)
    template = _env.get_template(f"{request.kind.value}.md.j2")
    return template.render(
        title=TITLES[request.kind],
        document_id=request.document_id,
        created_at=request.created_at,
        case=case,
        student=case.student,
        risk_factors=[RISK_FACTOR_ZH[f] for f in case.risk_factors],
        warning_signals=[WARNING_SIGNAL_ZH[s] for s in case.warning_signals],
        assessment=assessment,
        assessor=_assessor(assessment),
        seek_care_within=case.policy.seek_care_within(case.risk_level),
        notice=detail_of(case, Action.guardian_notice, request.event_seq),
        intervention=detail_of(case, Action.intervene, request.event_seq),
        referral=detail_of(case, Action.refer, request.event_seq),
        response=detail_of(case, Action.guardian_response, request.event_seq),
        closure=detail_of(case, Action.close, request.event_seq),
    )


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render(engine: Engine, request: DocumentRequest, documents_dir: Path) -> None:
    bound = log.bind(case_id=request.case.case_id, document_id=request.document_id, kind=request.kind.value)
    if store.get_document(engine, request.document_id) is not None:
        bound.info("document already made")
        return
    try:
        data = render_text(request).encode("utf-8")
    except (TemplateError, ValueError, OverflowError, KeyError, TypeError) as exc:
        # the same request fails the same way every time: say so once, and let the case go on
        bound.error("document cannot be rendered", error=type(exc).__name__)
        raise ApplicationError(
            f"the {request.kind.value} document could not be rendered ({type(exc).__name__})",
            type="RenderFailed",
            non_retryable=True,
        ) from None
    path = documents_dir / request.case.case_id / f"{request.document_id}.md.sealed"
    # the document names the student: on disk it is sealed like the database's columns
    _write_atomically(path, seal(engine_keyring(engine), data, f"documents/{request.document_id}").encode("ascii"))
    store.add_document(
        engine,
        DocumentRow(
            document_id=request.document_id,
            case_id=request.case.case_id,
            kind=request.kind.value,
            title=TITLES[request.kind],
            path=str(path.resolve()),
            media_type="text/markdown; charset=utf-8",
            sha256=hashlib.sha256(data).hexdigest(),
            created_at=request.created_at,
        ),
    )
    bound.info("document made")
