"""The guardian's page (``/g/{token}``): the notice's one-time link, answered from any phone browser.

No account, no JavaScript, nothing from another host: a zh-CN page WeChat's in-app browser shows as it is.
Nothing about the student shows until the code printed beside the QR code is entered; five wrong codes in a
row lock the link and tell the head teacher. After the code: the notice as the school wrote it, then one
answer (同意就医 / 暂不同意 / 请老师联系我), signed with a name and relation, taken by the case as a
staff-recorded ``guardian_response`` (by the guardian, channel online) through ``Door.answer_online``.

Every read and answer is in the access log as the guardian's, with keyed fingerprints of the address and
the user agent (never either, never the token). The token is in the path only: the page sends no referrer.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from activities.case_activities import typesetter_for
from activities.documents import DocumentDamaged, form, link_url
from api.access import PAGES
from api.web.render import BEIJING, public_page
from audit import access_log
from crypto.links import fingerprint
from crypto.sealed import engine_keyring
from db import directory, guardian_links, store
from db.tables import GuardianLinkRow
from models.case import GuardianResponseBody
from models.domain import GUARDIAN, NotificationEvent, Recipient, StaffRole
from paper.typeset import TypesetFailed

router = APIRouter(prefix="/g", include_in_schema=False)

#: What a link that takes no answer says, by its standing.
ENDED = {
    "expired": ("链接已过期", "此答复链接已超过有效期，无法再答复。请直接与班主任联系，或交回纸质告知书的回执。"),
    "replaced": ("链接已更新", "学校已为您出具新的告知书，此链接已停用。请使用最新告知书上的二维码和答复码。"),
    "revoked": ("链接已停用", "学校已停用此答复链接。请直接与班主任联系。"),
    "locked": ("链接已锁定", "因连续多次输入错误的答复码，此链接已锁定，班主任已收到通知。请直接与班主任联系。"),
    "unknown": ("链接无效", "没有找到这个答复链接。请核对告知书上的二维码或链接，或直接与班主任联系。"),
}
CHOICES = {"consent": "同意就医", "refuse": "暂不同意", "callback": "请老师联系我"}
FIELD_ERRORS = {
    "decision": "请选择一项答复",
    "signer": "请填写您的姓名",
    "relation": "请填写您与学生的关系",
    "notes": "请简要写明暂不同意的原因",
    "call_at": "请填写方便接听电话的时间",
    "expected_on": "请填写有效的日期，如 2026-12-08",
    "hospital": "医疗机构名称过长或含有无法识别的字符",
}

log = structlog.get_logger(__name__)


def _fingerprints(request: Request) -> str:
    keyring = engine_keyring(request.app.state.engine)
    address = request.client.host if request.client else None
    return f"{fingerprint(keyring, address)}/{fingerprint(keyring, request.headers.get('user-agent'))}"


async def _log(request: Request, row: GuardianLinkRow | None, what: str, status: int) -> None:
    """The access log, as the guardian's: the link by its id's first characters, never its token."""
    await run_in_threadpool(
        access_log.append, request.app.state.engine, at=datetime.now(UTC), staff_id=GUARDIAN, role=GUARDIAN,
        school_id=row.school_id if row else None, what=what, method=request.method,
        path=f"/g/{row.link_id[:12] if row else '-'}", case_id=row.case_id if row else None,
        client=_fingerprints(request), status=status)


async def _ended(request: Request, row: GuardianLinkRow | None, standing: str) -> HTMLResponse:
    title, message = ENDED[standing]
    status = 404 if row is None else 410
    await _log(request, row, f"guardian link {standing}", status)
    return public_page(request, "guardian_ended.html", status_code=status, title=title, message=message)


def _school(request: Request, row: GuardianLinkRow):
    return directory.school(request.app.state.engine, row.school_id)


async def _received(request: Request, row: GuardianLinkRow, what: str) -> HTMLResponse:
    await _log(request, row, what, 200)
    return public_page(request, "guardian_done.html", school=_school(request, row), answer=row.answer or {},
                       choices=CHOICES, first=False)


@router.get("/{token}", response_class=HTMLResponse)
async def link(request: Request, token: str):
    """The link as opened: the code form (nothing about the student), or what the link is now."""
    engine, now = request.app.state.engine, datetime.now(UTC)
    row = await run_in_threadpool(guardian_links.find, engine, token)
    if row is None:
        return await _ended(request, None, "unknown")
    standing = guardian_links.standing(row, now)
    if standing not in ("open", "answered"):
        return await _ended(request, row, standing)
    await _log(request, row, "guardian link read", 200)
    return public_page(request, "guardian_code.html", school=_school(request, row), error=None, token=token,
                       left=guardian_links.LOCK_AFTER - row.failures, until=row.expires_at.astimezone(BEIJING),
                       answered=standing == "answered")


async def _checked(request: Request, token: str, code: str) -> tuple[GuardianLinkRow | None, HTMLResponse | None]:
    """The link (open, or answered and not yet expired), once its code is right; otherwise the page to answer
    with (and the lock, when this was the last wrong code: the head teacher is told)."""
    engine, now = request.app.state.engine, datetime.now(UTC)
    row = await run_in_threadpool(guardian_links.find, engine, token)
    if row is None:
        return None, await _ended(request, None, "unknown")
    standing = guardian_links.standing(row, now)
    if standing not in ("open", "answered"):
        return None, await _ended(request, row, standing)
    checked = await run_in_threadpool(guardian_links.check_code, engine, row, code[:12], now)
    if checked == "right":
        return row, None
    if checked == "locked":
        await request.app.state.door.tell(row.case_id, NotificationEvent.guardian_link_locked, Recipient.head_teacher,
                                          row.link_id[:16])
        return None, await _ended(request, row, "locked")
    left = guardian_links.LOCK_AFTER - (row.failures + 1)
    await _log(request, row, "guardian code wrong", 422)
    return None, public_page(request, "guardian_code.html", status_code=422, school=_school(request, row),
                             error=f"答复码不正确，还可以再试 {left} 次。答复码印在告知书二维码旁，也可向班主任询问。",
                             token=token, left=left, until=row.expires_at.astimezone(BEIJING),
                             answered=row.answered_at is not None)


def _notice_text(request: Request, row: GuardianLinkRow) -> list[str]:
    """The notice as the school wrote it (its zh-CN text form, made on first request), up to the receipt, a paragraph
    a line."""
    engine = request.app.state.engine
    document = store.get_document(engine, row.document_id)
    try:
        found = form(engine, typesetter_for(request.app.state.settings), document, "text/plain",
                     document.language) if document else None
    except (DocumentDamaged, TypesetFailed) as exc:  # the answer form stands without the notice's text
        log.error("guardian notice text unavailable", document_id=row.document_id, error=type(exc).__name__)
        found = None
    if found is None:
        return []
    text = found[0].decode("utf-8")
    lines: list[str] = []
    for line in text.splitlines():
        # the notice ends with its closing (the receipt and the seal follow)
        if "沿此线剪下" in line or line.strip().startswith(("请您阅读后", "回")):
            break
        if line.strip().startswith(("手机在线答复", "答复码", "链接", "您也可以用手机扫描")):
            continue
        if line.strip():
            lines.append(line.strip())
    return lines


def _answer_page(request: Request, row: GuardianLinkRow, token: str, code: str, values: dict[str, Any],
                 errors: dict[str, str], status_code: int = 200) -> HTMLResponse:
    school = _school(request, row)
    names = ("decision", "hospital", "expected_on", "notes", "call_at", "signer", "relation")
    values = {name: values.get(name, "") for name in names}
    errors = {name: errors.get(name) for name in names}
    return public_page(request, "guardian_answer.html", status_code=status_code, school=school, token=token,
                       code=code, notice=_notice_text(request, row), values=values, errors=errors, choices=CHOICES,
                       until=row.expires_at.astimezone(BEIJING), hotlines=(school.hotlines or []) if school else [],
                       contact=school.contact_name if school else None,
                       contact_phone=school.contact_phone if school else None,
                       answered=row.answer if row.answered_at is not None else None)


@router.post("/{token}", response_class=HTMLResponse)
async def code(request: Request, token: str):
    """The code entered: the notice and the answer form."""
    form = await request.form()
    given = str(form.get("code", ""))
    row, answered = await _checked(request, token, given)
    if row is None:
        return answered
    await _log(request, row, "guardian notice read", 200)
    return _answer_page(request, row, token, given, {}, {})  # after an answer: the notice, and the answer given


def _body(values: dict[str, str]) -> tuple[GuardianResponseBody | None, dict[str, str]]:
    """The answer as the case takes it, or the fields to mend (in Chinese)."""
    errors: dict[str, str] = {}
    decision = values.get("decision", "")
    if decision not in CHOICES:
        errors["decision"] = FIELD_ERRORS["decision"]
    for name in ("signer", "relation"):
        if not values.get(name, "").strip():
            errors[name] = FIELD_ERRORS[name]
    if decision == "refuse" and not values.get("notes", "").strip():
        errors["notes"] = FIELD_ERRORS["notes"]
    expected = None
    if decision == "consent" and values.get("expected_on", "").strip():
        try:
            expected = date.fromisoformat(values["expected_on"].strip())
        except ValueError:
            errors["expected_on"] = FIELD_ERRORS["expected_on"]
    if errors:
        return None, errors
    fields = {
        "decision": decision, "by": "guardian", "signer": values["signer"].strip(),
        "relation": values["relation"].strip(), "notes": values.get("notes", "").strip() or None,
        "hospital": (values.get("hospital", "").strip() or None) if decision == "consent" else None,
        "expected_on": expected,
        "call_at": (values.get("call_at", "").strip() or None) if decision == "callback" else None,
    }
    try:
        return GuardianResponseBody(**fields), {}
    except ValidationError as exc:
        for problem in exc.errors():
            raised = (problem.get("ctx") or {}).get("error")
            name = getattr(raised, "path", None) or (str(problem["loc"][0]) if problem["loc"] else "decision")
            errors[name] = FIELD_ERRORS.get(name, "请检查此项：内容过长或含有无法识别的字符")
        return None, errors


@router.post("/{token}/answer", response_class=HTMLResponse)
async def answer(request: Request, token: str):
    """The answer: kept on the link at once (never lost), then taken by the case."""
    form = await request.form()
    values = {k: str(form.get(k, ""))[:2000] for k in ("code", "decision", "hospital", "expected_on", "notes",
                                                         "call_at", "signer", "relation")}
    row, answered = await _checked(request, token, values["code"])
    if row is None:
        return answered
    if row.answered_at is not None:  # one answer: a second is told it arrived, and changes nothing
        return await _received(request, row, "guardian answer again")
    body, errors = _body(values)
    if body is None:
        await _log(request, row, "guardian answer incomplete", 422)
        return _answer_page(request, row, token, values["code"], values, errors, status_code=422)
    engine, now = request.app.state.engine, datetime.now(UTC)
    kept = body.model_dump(mode="json")
    if not await run_in_threadpool(guardian_links.take_answer, engine, row.link_id, kept, now):
        return await _received(request, row, "guardian answer again")
    # the case takes it; a click that leaves mid-way still has it taken (the answer is on the link already)
    await asyncio.shield(request.app.state.door.answer_online(row.case_id, row.link_id, body))
    await _log(request, row, "guardian answered", 200)
    return public_page(request, "guardian_done.html", school=_school(request, row), answer=kept, choices=CHOICES,
                       first=True)


# ------------------------------------------------------------------ the case page's panel (staff)

STANDING_ZH = {"open": "有效，等待监护人答复", "answered": "监护人已答复", "locked": "已锁定（连续输错答复码）",
               "expired": "已过期", "replaced": "已被新的告知书取代", "revoked": "已停用"}
#: who sees the link and its code on the case page, and may send it by SMS: the people who tell the guardian
LINK_KEEPERS = frozenset({"head_teacher", "psychology_teacher", "leadership"})


def link_panel(request: Request, data, role: str) -> dict[str, Any] | None:
    """The case's newest answer link as its people see it: what it is now, the link and code to pass on (while
    it is open), the guardian's answer, the number on record (masked) and whether SMS can carry the link."""
    if role not in LINK_KEEPERS:
        return None
    engine, now = request.app.state.engine, datetime.now(UTC)
    row = guardian_links.latest(engine, data.case_id)
    if row is None:
        return None
    standing = guardian_links.standing(row, now)
    token, code = guardian_links.token_and_code(engine, row)
    phone = guardian_links.phone_of(engine, data.case_id)
    door = request.app.state.door
    return {"standing": standing, "standing_zh": STANDING_ZH[standing], "until": row.expires_at,
            "url": link_url(request.app.state.settings.public_url, token) if standing == "open" else None,
            "code": code if standing == "open" else None, "answer": row.answer, "answered_at": row.answered_at,
            "choices": CHOICES, "phone": f"{phone[:3]}****{phone[-4:]}" if phone else None,
            "sms": door.sends_sms(data.school_id) and standing == "open" and _may(role, "sms"),
            "sms_sent_at": row.sms_sent_at, "may_revoke": _may(role, "revoke") and standing in ("open", "locked")}


def _may(role: str, what: str) -> bool:
    """Whether the case page offers this role the panel's form (the access table's rule for its route)."""
    return StaffRole(role) in PAGES[f"POST /ui/cases/{{case_id}}/guardian-link/{what}"].roles
